/**
 * The world's recogniser: a small CNN, written as an ONNX graph with the project's own builder, that reads a
 * 64×64 image and predicts every scene attribute (object incl. concepts, colour, size, position, background
 * pattern and colour) from one 128-wide penultimate layer, which it also exposes, centred on the world's mean, as
 * `features`. The features play the part CLIP's image embedding plays in the paper's reconstruction score; the
 * predictions score editability.
 *
 *   image [N,3,64,64] → 4 × (Conv 3×3 stride 2 → Relu) → trunk = Flatten(4×4 map) ⧺ channel means of the 8×8 map
 *   trunk [N,576] → Gemm → Relu = h [N,128] → Gemm = logits [N, Σ labels];  features = h − mean(h over the world)
 *   loss = −(1/B) Σ_heads Σ onehot · LogSoftmax(head's logits)
 */
import { GraphBuilder } from '../../weights/onnx/builder.ts';
import type { Model } from '../../weights/onnx/proto.ts';
import { ParamStore, kaiming } from '../../weights/tiny/params.ts';
import { layerContext } from '../../weights/tiny/layers/context.ts';
import { conv2d } from '../../weights/tiny/layers/conv.ts';
import { colours, conceptNames, patterns, positions, shapes, sizes, type Scene } from './world.ts';

/** One classification head: the attribute it predicts and its labels, in logit order. */
export interface RecogniserHead {
  readonly name: 'object' | 'colour' | 'size' | 'position' | 'pattern' | 'background';
  readonly labels: readonly string[];
}

/** The heads, in the order their logits are concatenated. */
export const recogniserHeads: readonly RecogniserHead[] = [
  { name: 'object', labels: [...shapes, ...conceptNames] },
  { name: 'colour', labels: colours },
  { name: 'size', labels: sizes },
  { name: 'position', labels: positions },
  { name: 'pattern', labels: patterns },
  { name: 'background', labels: colours },
];

/** Width of the concatenated logits. */
export const logitWidth = recogniserHeads.reduce((n, h) => n + h.labels.length, 0);
/** Width of the feature vector. */
export const featureWidth = 128;
/** The image side the recogniser reads. */
export const recogniserResolution = 64;

/** Each head's first logit index. */
export const headOffsets: readonly number[] = recogniserHeads.map((_, i) =>
  recogniserHeads.slice(0, i).reduce((n, h) => n + h.labels.length, 0),
);

/** A scene's label per head (the value `recogniserHeads[i].labels` must contain). */
export const sceneLabels = (s: Scene): Record<RecogniserHead['name'], string> => ({
  object: s.object,
  colour: s.colour,
  size: s.size,
  position: s.position,
  pattern: s.background.pattern,
  background: s.background.colour,
});

/**
 * Writes the concatenated one-hot targets of `scenes` into a [B, logitWidth] array.
 *
 * @example
 * const t = oneHotTargets([scene]); // Float32Array(logitWidth) with six ones
 */
export const oneHotTargets = (scenes: readonly Scene[]): Float32Array => {
  const out = new Float32Array(scenes.length * logitWidth);
  scenes.forEach((s, n) => {
    const labels = sceneLabels(s);
    recogniserHeads.forEach((h, i) => {
      const k = h.labels.indexOf(labels[h.name]);
      out[n * logitWidth + headOffsets[i] + k] = 1;
    });
  });
  return out;
};

export interface BuildRecogniserOptions {
  /** Seed for the initial weights. */
  seed: number;
  /**
   * Adds a `targets` input [batch, logitWidth] and a scalar `loss` output (for training). The batch is fixed then,
   * so the 1/B of the mean is a constant.
   */
  lossBatch?: number;
  /** Subtracted from the "what" activations to give `features` (the world's mean; see `trainRecogniser`). */
  featureMean?: Float32Array;
}

const convs: readonly [number, number][] = [
  [3, 16],
  [16, 32],
  [32, 64],
  [64, 32],
];
/** The trunk: the flattened 4×4 map (where things are) and the 8×8 map's channel means (what, anywhere). */
const trunkWidth = 32 * 4 * 4 + 64;

/**
 * The recogniser graph with freshly initialised weights (PyTorch's defaults), as a model to run or to
 * differentiate. Parameter names are the initializers whose names end in `.weight` or `.bias`.
 *
 * @example
 * const model = buildRecogniser({ seed: 0, lossBatch: 32 });
 * const train = differentiate(model, { of: 'loss', wrt: recogniserParams(model) });
 */
export const buildRecogniser = (o: BuildRecogniserOptions): Model => {
  const b = new GraphBuilder();
  const ctx = layerContext(b, new ParamStore(b, { seed: o.seed }), 17);
  const n = o.lossBatch ?? 'batch';
  let h = b.input('image', 'float32', [n, 3, recogniserResolution, recogniserResolution]);
  let pooled = '';
  convs.forEach(([i, out], k) => {
    h = b.op('Relu', [conv2d(ctx, `conv${k}`, h, i, out, { stride: 2 })], {}, { name: `conv${k}/Relu` });
    // The 8×8 map's channel means see a shape wherever it is; the flattened 4×4 map keeps where it is.
    if (k === 2) pooled = b.op('ReduceMean', [h], { axes: [2, 3], keepdims: 0 }, { name: 'pool/ReduceMean' });
  });
  const trunk = b.op(
    'Concat',
    [b.op('Flatten', [h], { axis: 1 }, { name: 'flatten' }), pooled],
    { axis: 1 },
    { name: 'trunk/Concat' },
  );
  const gemm = (name: string, x: string, fin: number, fout: number) =>
    b.op(
      'Gemm',
      [x, ctx.p.param(`${name}.weight`, [fout, fin], kaiming(fin)), ctx.p.param(`${name}.bias`, [fout], kaiming(fin))],
      { transB: 1 },
      { name: `${name}/Gemm` },
    );
  // One penultimate layer for all heads: in trials, splitting it into "what" and "where" layers halved the
  // object accuracy at the same training budget (the position and background tasks help the shared layer).
  const penultimate = b.op('Relu', [gemm('fc', trunk, trunkWidth, featureWidth)], {}, { name: 'fc/Relu' });
  // Centred features: without the world's mean vector every pair of images scores a cosine of about 0.5, which
  // squeezes the reconstruction scores together; centred, unrelated images score about 0.
  const features = o.featureMean
    ? b.op(
        'Sub',
        [penultimate, b.constF(Array.from(o.featureMean), [featureWidth], 'feature_mean')],
        {},
        { name: 'features/Sub', outputs: ['features'] },
      )
    : b.op('Identity', [penultimate], {}, { name: 'features/Identity', outputs: ['features'] });
  const logits = gemm('head', penultimate, featureWidth, logitWidth);
  b.output(features, 'float32', [n, featureWidth]);
  b.output(logits, 'float32', [n, logitWidth], 'logits');
  if (o.lossBatch !== undefined) {
    const targets = b.input('targets', 'float32', [o.lossBatch, logitWidth]);
    // Each head's log-probabilities, concatenated back to [B, L]; one-hot · log p picks the true label's.
    const logp = recogniserHeads.map((hd, i) =>
      b.op(
        'LogSoftmax',
        [
          b.op('Slice', [
            logits,
            ctx.i64([headOffsets[i]]),
            ctx.i64([headOffsets[i] + hd.labels.length]),
            ctx.i64([1]),
          ]),
        ],
        { axis: 1 },
        { name: `loss/${hd.name}/LogSoftmax` },
      ),
    );
    const all = b.op('Concat', logp, { axis: 1 }, { name: 'loss/Concat' });
    const picked = b.op('ReduceSum', [b.op('Mul', [all, targets])], { keepdims: 0 }, { name: 'loss/ReduceSum' });
    b.op('Mul', [picked, ctx.f32(-1 / o.lossBatch)], {}, { name: 'loss/Mean', outputs: ['loss'] });
    b.output('loss', 'float32', []);
  }
  return b.toModel(17);
};

/**
 * The names of a recogniser model's trainable parameters, in graph order.
 *
 * @example
 * recogniserParams(buildRecogniser({ seed: 0 })); // ['conv0.weight', 'conv0.bias', …, 'head.bias']
 */
export const recogniserParams = (model: Model): string[] =>
  model.graph.initializers.map((t) => t.name).filter((name) => /\.(weight|bias)$/.test(name));
