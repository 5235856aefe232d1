/**
 * Running a trained recogniser: features and per-head predictions for a batch of images, and accuracy per head
 * on labelled samples. Takes any `Session` (the adapter opens onnxruntime), so the core stays runtime-free.
 */
import type { RgbaImage } from '../../common/image/image.ts';
import { rgbaToTensor } from '../../common/image/image.ts';
import { resize } from '../../common/image/resample.ts';
import { PipelineError } from '../../common/errors.ts';
import type { Session } from '../../weights/session.ts';
import {
  featureWidth,
  headOffsets,
  logitWidth,
  recogniserHeads,
  recogniserResolution,
  sceneLabels,
  type RecogniserHead,
} from './recogniser.ts';
import type { Scene } from './world.ts';

/** What the recogniser says about one image. */
export interface Recognition {
  /** The penultimate-layer feature vector (for cosine similarity). */
  readonly features: Float32Array;
  /** The most likely label per head. */
  readonly labels: Readonly<Record<RecogniserHead['name'], string>>;
  /** Each head's softmax over its labels, in `recogniserHeads[i].labels` order. */
  readonly probabilities: Readonly<Record<RecogniserHead['name'], Float32Array>>;
}

/** Softmax of `z[from, from + n)` (shifted by the maximum, so large logits do not overflow). */
const softmax = (z: Float32Array, from: number, n: number): Float32Array => {
  let max = -Infinity;
  for (let k = 0; k < n; k++) max = Math.max(max, z[from + k]);
  const p = new Float32Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) sum += p[k] = Math.exp(z[from + k] - max);
  for (let k = 0; k < n; k++) p[k] /= sum;
  return p;
};

/**
 * Features and predicted labels for each image (resized to 64×64 when needed), `chunk` images per run.
 *
 * @example
 * const [r] = await recognise(session, [image]);
 * r.labels.colour; // 'red'
 */
export const recognise = async (session: Session, images: readonly RgbaImage[], chunk = 64): Promise<Recognition[]> => {
  const out: Recognition[] = [];
  for (let at = 0; at < images.length; at += chunk) {
    const part = images
      .slice(at, at + chunk)
      .map((im) =>
        im.width === recogniserResolution && im.height === recogniserResolution
          ? im
          : resize(im, recogniserResolution, recogniserResolution, 'area'),
      );
    const r = await session.run({ image: rgbaToTensor(part) }, ['features', 'logits']);
    const f = r.features.data as Float32Array;
    const l = r.logits.data as Float32Array;
    if (f.length !== part.length * featureWidth || l.length !== part.length * logitWidth)
      throw new PipelineError(
        'bad_model',
        `the recogniser returned ${f.length / part.length} features and ${l.length / part.length} logits per image, expected ${featureWidth} and ${logitWidth}`,
      );
    part.forEach((_, n) => {
      const labels = {} as Record<RecogniserHead['name'], string>;
      const probabilities = {} as Record<RecogniserHead['name'], Float32Array>;
      recogniserHeads.forEach((h, i) => {
        const p = softmax(l, n * logitWidth + headOffsets[i], h.labels.length);
        let best = 0;
        for (let k = 1; k < p.length; k++) if (p[k] > p[best]) best = k;
        labels[h.name] = h.labels[best];
        probabilities[h.name] = p;
      });
      out.push({ features: f.slice(n * featureWidth, (n + 1) * featureWidth), labels, probabilities });
    });
  }
  return out;
};

/**
 * Fraction of correct predictions per head over labelled samples.
 *
 * @example
 * const acc = await recogniserAccuracy(session, samples); // { object: 0.97, colour: 1, … }
 */
export const recogniserAccuracy = async (
  session: Session,
  samples: readonly { image: RgbaImage; scene: Scene }[],
): Promise<Record<RecogniserHead['name'], number>> => {
  const got = await recognise(
    session,
    samples.map((s) => s.image),
  );
  const acc = {} as Record<RecogniserHead['name'], number>;
  for (const h of recogniserHeads) {
    acc[h.name] =
      got.filter((g, i) => g.labels[h.name] === sceneLabels(samples[i].scene)[h.name]).length / samples.length;
  }
  return acc;
};

/** Cosine similarity of two vectors (0 when either is all zeros). */
export const cosine = (a: Float32Array, b: Float32Array): number => {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
};
