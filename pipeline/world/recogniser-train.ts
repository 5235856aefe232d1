/**
 * Trains the recogniser with the project's own autodiff: the loss graph is differentiated once with respect to
 * every weight (`differentiate` promotes them to inputs), each step is one session run returning the loss and
 * all gradients, and AdamW updates the weights in TypeScript. The training set is pre-rendered once (rendering
 * costs more than a step) from a seeded stream that never overlaps the held-out check samples.
 */
import { differentiate } from '../../weights/autodiff/differentiate.ts';
import { encodeModel, type Model } from '../../weights/onnx/proto.ts';
import { makeTensorProto, readTensorProto } from '../../weights/onnx/tensor-proto.ts';
import type { SessionFactory } from '../../weights/session.ts';
import { float32, tensor } from '../../common/tensor.ts';
import { PipelineError } from '../../common/errors.ts';
import { rgbaToTensor } from '../../common/image/image.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { adamwInit, adamwStep, type AdamWState } from '../../common/train/adamw.ts';
import { buildRecogniser, featureWidth, logitWidth, oneHotTargets, recogniserParams } from './recogniser.ts';
import { recognise } from './recognise.ts';
import { sampleScene, type WorldSample } from './sample.ts';
import { conceptNames, shapes, type ObjectKind } from './world.ts';

/** Every object kind, basic shapes and concepts alike: the recogniser must tell all of them apart. */
export const recogniserObjects: readonly ObjectKind[] = [...shapes, ...conceptNames];

/**
 * The `index`-th labelled sample of a split: 'train' and 'check' streams are separate forks of the seed.
 *
 * @example
 * const s = recogniserSample(0, 'check', 5);
 */
export const recogniserSample = (seed: number, split: 'train' | 'check', index: number): WorldSample =>
  sampleScene(createRng(seed).fork(`recogniser:${split}`).fork(`item:${index}`), { objects: recogniserObjects });

export interface TrainRecogniserOptions {
  seed: number;
  steps: number;
  batch: number;
  /** Distinct pre-rendered training images the batches are drawn from. */
  images: number;
  lr: number;
  /** Called after every step with the step number (1-based) and the batch loss. */
  onStep?: (step: number, loss: number) => void;
}

/**
 * Trains from scratch and returns the forward model (image → features, logits) with the learned weights and the
 * training images' mean feature vector subtracted from `features`.
 *
 * @example
 * const model = await trainRecogniser(ortSessionFactory, { seed: 0, steps: 1500, batch: 32, images: 4000, lr: 2e-3 });
 */
export const trainRecogniser = async (factory: SessionFactory, o: TrainRecogniserOptions): Promise<Model> => {
  const lossModel = buildRecogniser({ seed: o.seed, lossBatch: o.batch });
  const names = recogniserParams(lossModel);
  const init = new Map(lossModel.graph.initializers.map((t) => [t.name, t]));
  const values = names.map((n) => Float32Array.from(readTensorProto(init.get(n)!).data as Float32Array));
  const dims = names.map((n) => init.get(n)!.dims.map(Number));
  const session = await factory.create(encodeModel(differentiate(lossModel, { of: 'loss', wrt: names })));
  const data = Array.from({ length: o.images }, (_, i) => recogniserSample(o.seed, 'train', i));
  let states: AdamWState[] = names.map((_, i) => adamwInit(values[i].length));
  const pick = createRng(o.seed).fork('recogniser:batches');
  try {
    for (let step = 1; step <= o.steps; step++) {
      const batch = Array.from({ length: o.batch }, () => data[pick.int(data.length)]);
      const feeds = {
        image: rgbaToTensor(batch.map((s) => s.image)),
        targets: tensor('float32', [o.batch, logitWidth], oneHotTargets(batch.map((s) => s.scene))),
        ...Object.fromEntries(names.map((n, i) => [n, float32(dims[i], values[i])])),
      };
      const r = await session.run(feeds, ['loss', ...names.map((n) => `${n}_grad`)]);
      const loss = (r.loss.data as Float32Array)[0];
      if (!Number.isFinite(loss)) throw new PipelineError('numeric', `recogniser loss became ${loss} at step ${step}`);
      // Cosine decay to 0 over the run: a small net settles better than at a constant rate.
      const lr = o.lr * 0.5 * (1 + Math.cos((Math.PI * (step - 1)) / o.steps));
      states = states.map((s, i) =>
        adamwStep(values[i], r[`${names[i]}_grad`].data as Float32Array, s, lr, {
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: 1e-4,
        }),
      );
      o.onStep?.(step, loss);
    }
  } finally {
    await session.release();
  }
  const trained = new Map(names.map((n, i) => [n, makeTensorProto(n, tensor('float32', dims[i], values[i]))]));
  const withWeights = (featureMean?: Float32Array) => {
    const m = buildRecogniser({ seed: o.seed, featureMean });
    m.graph.initializers = m.graph.initializers.map((t) => trained.get(t.name) ?? t);
    return m;
  };
  // The world's mean feature vector, over (up to) 512 of the training images, is baked into the shipped graph.
  const uncentred = await factory.create(encodeModel(withWeights()));
  const mean = new Float32Array(featureWidth);
  try {
    const seen = await recognise(
      uncentred,
      data.slice(0, 512).map((s) => s.image),
    );
    for (const r of seen) r.features.forEach((x, i) => (mean[i] += x / seen.length));
  } finally {
    await uncentred.release();
  }
  return withWeights(mean);
};
