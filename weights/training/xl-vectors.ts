/**
 * How an SDXL run keeps its two sets of learned vectors. The training state holds one Float32Array, as for
 * SD1.x — text_encoder's [n, w₁] rows first, then text_encoder_2's [n, w₂] — so the optimizer (AdamW's moments),
 * the state file and resume treat both alike and cover both. These helpers split that array where the step graph,
 * the norm cap and the embedding file need the two parts; with no second width they leave SD1.x's path as it was.
 */
import { capNorms } from '../../common/train/norm-cap.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import type { Embedding } from '../embeddings/embedding-file.ts';
import type { Session } from '../session.ts';
import { trainInputs, trainOutputs } from './train-graph.ts';
import { trainInputsXl, trainOutputsXl } from './train-graph-xl.ts';
import type { TrainContext } from './train-context.ts';

/** The shape of a run's vectors: `count` tokens, `dim` wide in text_encoder and `dim2` in text_encoder_2 (SDXL). */
export interface VectorShape {
  readonly count: number;
  readonly dim: number;
  readonly dim2?: number;
  /** p-plus: the cross-attention layers; the vectors are then one [n, dim] set per layer, layer-major. */
  readonly layers?: readonly string[];
}

const shapeOf = (ctx: TrainContext): VectorShape => ({ count: ctx.tokens.length, dim: ctx.dim, dim2: ctx.xl?.dim2 });

/**
 * [n·w₁ | n·w₂] → the two parts (views, no copy); with no `dim2`, the whole array and an empty second part.
 * @example
 * const [l, g] = splitVectors(state.vectors, { count: 1, dim: 768, dim2: 1280 }); // l.length 768, g.length 1280
 */
export const splitVectors = (v: Float32Array, s: VectorShape): [Float32Array, Float32Array] => {
  const k = s.dim2 ? s.count * s.dim : v.length;
  return [v.subarray(0, k), v.subarray(k)];
};

/** The embedding a run's vectors make: SD1.x's one set, SDXL's `{clip_l, clip_g}` pair, or P+'s set per layer. */
export const trainedEmbedding = (token: string, vectors: Float32Array, s: VectorShape, step?: number): Embedding => {
  const [l, g] = splitVectors(vectors, s);
  return {
    token,
    vectors: s.layers ? vectors.subarray(0, s.count * s.dim) : l,
    count: s.count,
    dim: s.dim,
    ...(s.dim2 ? { clipG: { vectors: g, dim: s.dim2 } } : {}),
    ...(s.layers ? { perLayer: { layers: [...s.layers], vectors } } : {}),
    ...(step !== undefined ? { step } : {}),
  };
};

/** The step graph's vector inputs for the given state vectors. */
export const vectorFeeds = (ctx: TrainContext, vectors: Float32Array): Record<string, Tensor> => {
  const s = shapeOf(ctx);
  // p-plus holds one [n, dim] set per layer: the step takes them all as [layers·n, dim].
  if (!s.dim2) return { [trainInputs.vectors]: tensor('float32', [vectors.length / s.dim, s.dim], vectors) };
  const [l, g] = splitVectors(vectors, s);
  return {
    [trainInputsXl.vectors]: tensor('float32', [s.count, s.dim], l),
    [trainInputsXl.vectors2]: tensor('float32', [s.count, s.dim2], g),
  };
};

/** ∂loss/∂vectors of one step run, laid out as the state's vectors. */
export const stepGradient = (ctx: TrainContext, out: Record<string, Tensor>): Float32Array => {
  const g1 = out[trainOutputs.grad].data as Float32Array;
  if (!ctx.xl) return g1;
  const g2 = out[trainOutputsXl.grad2].data as Float32Array;
  const all = new Float32Array(g1.length + g2.length);
  all.set(g1);
  all.set(g2, g1.length);
  return all;
};

/** `capNorms` on each encoder's vectors with its own width. */
export const capVectorNorms = (ctx: TrainContext, params: Float32Array, ratio: number): number => {
  const s = shapeOf(ctx);
  const [p1, p2] = splitVectors(params, s);
  const [i1, i2] = splitVectors(ctx.initVectors, s);
  return capNorms(p1, i1, s.dim, ratio) + (s.dim2 ? capNorms(p2, i2, s.dim2, ratio) : 0);
};

/** Token ids as a step input of the dtype its graph declares (exporters choose int32 or int64). */
export const idsFeed = (step: Session, input: string, rows: readonly number[][]): Tensor => {
  const ids = rows.flat();
  const dims = [rows.length, rows[0]?.length ?? 0];
  return step.inputs.find((i) => i.name === input)?.dtype === 'int64'
    ? tensor('int64', dims, BigInt64Array.from(ids, BigInt))
    : tensor('int32', dims, Int32Array.from(ids));
};

/**
 * SDXL's extra step inputs for a batch: the prompts tokenized by tokenizer_2, and one row of six time ids per
 * sample. Empty for SD1.x.
 */
export const xlFeeds = (
  ctx: TrainContext,
  prompts: readonly string[],
  timeIds: readonly (readonly number[])[],
): Record<string, Tensor> => {
  if (!ctx.xl) return {};
  const tok = ctx.xl.tokenizer2;
  return {
    [trainInputsXl.ids2]: idsFeed(
      ctx.step,
      trainInputsXl.ids2,
      prompts.map((p) => tok.tokenize(p, { length: 77 }).ids),
    ),
    [trainInputsXl.timeIds]: tensor('float32', [timeIds.length, 6], Float32Array.from(timeIds.flat())),
  };
};
