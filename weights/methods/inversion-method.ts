/**
 * The inversion slot's alternatives as small hooks the training loop calls (stages/train-step.ts,
 * pipeline/train/run-train.ts); everything a method changes lives here and in the files it names:
 *
 * - `ti`: textual inversion as the paper has it — no hooks.
 * - `dti`: directional textual inversion (Kim et al. 2025). Each vector is held at the norm m of the vocabulary's
 *   embeddings — the mean L2 norm of the token table's rows, the "in-distribution magnitude" the paper fixes (it
 *   reports about 0.4 for CLIP's vocabulary, and plain TI's vectors growing past 20) — and only its direction is learned: the
 *   start is the initializer's direction at norm m, the gradient is projected onto the sphere's tangent space
 *   before the optimizer, and the update is retracted onto the sphere after it (common/train/sphere.ts). The
 *   paper's von Mises–Fisher prior (a constant pull towards a prior direction) is not included.
 * - `p-plus`: one vector set per cross-attention layer of the UNet (P+, Voynov et al. 2023): the step graph is
 *   rewritten (p-plus-unet.ts, p-plus-text-encoder.ts), the vectors are [L·N, D] layer-major, each starting as
 *   the initializer's, and the file holds them per layer name (weights/embeddings/p-plus-file.ts).
 */
import type { InversionChoice } from '../../common/train/train-pipeline.ts';
import { meanRowNorm, projectTangent, retractToSphere } from '../../common/train/sphere.ts';

export interface InversionHooks {
  readonly use: InversionChoice['use'];
  /** dti: the norm every vector is held at. */
  readonly radius?: number;
  /** p-plus: the cross-attention layers, in the order the vectors hold their sets. */
  readonly layers?: readonly string[];
  /** The vectors training starts from, given the initializer's [N, D]. */
  start(init: Float32Array): Float32Array;
  /** Changes the step's mean gradient in place before the optimizer sees it. */
  gradient(grad: Float32Array, vectors: Float32Array): void;
  /** Changes the optimizer's result in place (after the norm cap). */
  update(vectors: Float32Array): void;
}

/** What building the hooks needs from the model. */
export interface MethodModel {
  dim: number;
  tableRows: number;
  /** Rows of the frozen token table. */
  tableVectors(ids: number[]): Float32Array;
  /** p-plus: the UNet's cross-attention layer names. */
  layers?: readonly string[];
}

const none = { gradient: () => {}, update: () => {} };

/** The vocabulary's mean row norm, read a block of rows at a time (the table of a real model is 150 MB). */
export const vocabularyNorm = (m: MethodModel): number => {
  let total = 0;
  for (let start = 0; start < m.tableRows; start += 4096) {
    const ids = Array.from({ length: Math.min(4096, m.tableRows - start) }, (_, i) => start + i);
    const block = m.tableVectors(ids);
    total += meanRowNorm(ids.length, m.dim, (i) => block.subarray(i * m.dim, (i + 1) * m.dim)) * ids.length;
  }
  return total / m.tableRows;
};

export const inversionHooks = (choice: InversionChoice, m: MethodModel): InversionHooks => {
  if (choice.use === 'dti') {
    const radius = vocabularyNorm(m);
    const radii = (v: Float32Array) => new Float64Array(v.length / m.dim).fill(radius);
    return {
      use: 'dti',
      radius,
      start: (init) => retractToSphere(Float32Array.from(init), radii(init), m.dim),
      gradient: (grad, vectors) => void projectTangent(grad, vectors, m.dim),
      update: (vectors) => void retractToSphere(vectors, radii(vectors), m.dim),
    };
  }
  if (choice.use === 'p-plus') {
    const layers = m.layers ?? [];
    return {
      use: 'p-plus',
      layers,
      ...none,
      start: (init) => {
        const out = new Float32Array(init.length * layers.length);
        for (let l = 0; l < layers.length; l++) out.set(init, l * init.length);
        return out;
      },
    };
  }
  return { use: 'ti', ...none, start: (init) => init };
};
