/**
 * A LoRA's weights as one flat float32 array — [A₀, B₀, A₁, B₁, …] in layer order, each row-major — so the
 * optimizer, the checkpoint and the gradient accumulation treat them like the learned vectors.
 */
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { loraInputs, type LoraShape } from './add-lora.ts';

/** What a layer contributes to the flat array (its path and sizes; enough to write a file). */
export interface LoraLayerSpec {
  path: string;
  inFeatures: number;
  outFeatures: number;
}

/** A set of LoRA weights: the shape, the layers and their flat parameters. */
export interface LoraWeights {
  shape: LoraShape;
  layers: LoraLayerSpec[];
  params: Float32Array;
}

/** Where each layer's A and B start in the flat array, and its total length. */
export const loraOffsets = (layers: readonly LoraLayerSpec[], rank: number) => {
  let at = 0;
  const offsets = layers.map((l) => {
    const a = at;
    const b = a + rank * l.inFeatures;
    at = b + l.outFeatures * rank;
    return { a, b, end: at };
  });
  return { offsets, length: at };
};

/**
 * The starting weights as kohya and PEFT make them: A ~ kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in), and
 * B = 0, so training starts from the unchanged UNet. Seeded: the same seed gives the same A on every runtime.
 */
export const initLora = (layers: readonly LoraLayerSpec[], shape: LoraShape, seed: number): LoraWeights => {
  const { offsets, length } = loraOffsets(layers, shape.rank);
  const params = new Float32Array(length);
  const rng = createRng(seed).fork('lora-init');
  layers.forEach((l, i) => {
    const bound = 1 / Math.sqrt(l.inFeatures);
    for (let k = offsets[i].a; k < offsets[i].b; k++) params[k] = (2 * rng.uniform() - 1) * bound;
  });
  return {
    shape,
    layers: layers.map(({ path, inFeatures, outFeatures }) => ({ path, inFeatures, outFeatures })),
    params,
  };
};

/** The graph feeds of `addLora`'s inputs (views into `params`; `prefix` as the composed graph renamed them). */
export const loraFeeds = (w: LoraWeights, prefix = ''): Record<string, Tensor> => {
  const { offsets } = loraOffsets(w.layers, w.shape.rank);
  const r = w.shape.rank;
  const feeds: Record<string, Tensor> = {};
  w.layers.forEach((l, i) => {
    const { a, b } = loraInputs(l.path);
    const o = offsets[i];
    feeds[prefix + a] = tensor('float32', [r, l.inFeatures], w.params.subarray(o.a, o.b));
    feeds[prefix + b] = tensor('float32', [l.outFeatures, r], w.params.subarray(o.b, o.end));
  });
  return feeds;
};

/** The names of every A and B input, in flat order (what to differentiate with respect to). */
export const loraInputNames = (layers: readonly LoraLayerSpec[], prefix = ''): string[] =>
  layers.flatMap((l) => {
    const { a, b } = loraInputs(l.path);
    return [prefix + a, prefix + b];
  });
