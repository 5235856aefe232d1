/**
 * The pretraining data: seeded samples of the procedural world (pipeline/world) as the networks want them —
 * pixels in [−1, 1], channels first — and their captions as token ids. Item `i` of a seed is always the same
 * scene, so the VAE's fresh batches and the diffusion model's cached dataset are both reproducible.
 */
import { createRng, type Rng } from '../../common/numerics/rng.ts';
import { positionCentre, sizeRadius, worldSampleAt } from '../world/index.ts';
import type { ClipTokenizer } from '../../weights/tokenizer/clip-tokenizer.ts';

export interface WorldBatch {
  /** [count, 3, size, size] in [−1, 1]. */
  pixels: Float32Array;
  captions: string[];
  /** [count, 1, size, size]: 1 on the object's disk (radius √2·r plus a pixel of anti-aliasing), 0 elsewhere. */
  objectMask: Float32Array;
}

/** The root stream of a seed's world items (a fork, so the noise and batch streams never share it). */
export const worldRoot = (seed: number): Rng => createRng(seed).fork('pretrain-world');

/**
 * Items `from … from+count−1` of the world for `seed`, rendered at `size` px.
 *
 * @example
 * const { pixels, captions } = worldItems(0, 0, 16); // 16 scenes, 16×3×64×64 floats
 */
export const worldItems = (seed: number, from: number, count: number, size = 64): WorldBatch => {
  const root = worldRoot(seed);
  const plane = size * size;
  const pixels = new Float32Array(count * 3 * plane);
  const captions: string[] = [];
  const objectMask = new Float32Array(count * plane);
  const px = size / 64;
  for (let i = 0; i < count; i++) {
    const s = worldSampleAt(root, from + i, { resolution: size });
    captions.push(s.caption);
    // Every object is drawn inside u² + v² ≤ 2 in its own frame (render.ts): a disk of radius √2·r.
    const [cx, cy] = positionCentre[s.scene.position].map((v) => v * px);
    const r = (Math.SQRT2 * sizeRadius[s.scene.size] + 1) * px;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const dx = x + 0.5 - cx;
        const dy = y + 0.5 - cy;
        if (dx * dx + dy * dy <= r * r) objectMask[i * plane + y * size + x] = 1;
      }
    const d = s.image.data;
    for (let p = 0; p < plane; p++)
      for (let c = 0; c < 3; c++) pixels[(i * 3 + c) * plane + p] = d[p * 4 + c] / 127.5 - 1;
  }
  return { pixels, captions, objectMask };
};

/**
 * Captions → int32 ids [count, length] (BOS, words, EOS, padding), the empty caption for dropped ones.
 *
 * @example
 * tokenizeCaptions(tokenizer, ['a red circle', '']); // 2×77 ids
 */
export const tokenizeCaptions = (
  tokenizer: ClipTokenizer,
  captions: readonly string[],
  length = tokenizer.modelMaxLength,
): Int32Array => {
  const out = new Int32Array(captions.length * length);
  captions.forEach((c, i) => out.set(tokenizer.tokenize(c, { length }).ids, i * length));
  return out;
};
