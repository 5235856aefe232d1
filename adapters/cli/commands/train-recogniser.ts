import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../fs.ts';
import { ortSessionFactory } from '../../ort-session.ts';
import { projectRoot } from '../../project-paths.ts';
import { encodeModel } from '../../../weights/onnx/proto.ts';
import { recogniserHeads, featureWidth, recogniserResolution } from '../../../pipeline/world/recogniser.ts';
import { recogniserSample, trainRecogniser } from '../../../pipeline/world/recogniser-train.ts';
import { recogniserAccuracy } from '../../../pipeline/world/recognise.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';

/** Where the shipped recogniser lives in the source tree. */
export const shippedRecogniserDir = join(projectRoot, 'weights', 'shipped', 'recogniser');

export const spec: CommandSpec = {
  name: 'train-recogniser',
  summary:
    "Train the world's recogniser (a small CNN, trained with pseudoword's own autodiff) and write model.onnx + labels.json.",
  usage: 'train-recogniser [--seed 0] [--steps 2400] [--out weights/shipped/recogniser]',
  options: {
    seed: { type: 'string', default: '0', help: 'seed for the weights, the training images and the batches' },
    steps: { type: 'string', default: '2400', help: 'AdamW steps' },
    batch: { type: 'string', default: '16', help: 'images per step' },
    images: { type: 'string', default: '3000', help: 'distinct pre-rendered training images' },
    lr: { type: 'string', default: '0.003', help: 'peak learning rate (cosine decay to 0)' },
    check: { type: 'string', default: '500', help: 'held-out images to measure accuracy on' },
    out: { type: 'string', short: 'o', arg: 'folder', help: 'output folder (default: the shipped recogniser folder)' },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const seed = num(v.seed, 'seed', { int: true })!;
  const steps = num(v.steps, 'steps', { int: true, min: 1 })!;
  const batch = num(v.batch, 'batch', { int: true, min: 1 })!;
  const images = num(v.images, 'images', { int: true, min: 1 })!;
  const lr = num(v.lr, 'lr', { min: 0 })!;
  const checkCount = num(v.check, 'check', { int: true, min: 1 })!;
  const out = v.out ? resolve(v.out) : shippedRecogniserDir;
  const started = performance.now();
  let avg = 0;
  const model = await trainRecogniser(ortSessionFactory, {
    seed,
    steps,
    batch,
    images,
    lr,
    onStep: (step, loss) => {
      avg = step === 1 ? loss : 0.95 * avg + 0.05 * loss;
      if (step % 100 === 0 || step === steps)
        process.stderr.write(
          `step ${step}/${steps} loss ${avg.toFixed(3)} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`,
        );
    },
  });
  const bytes = encodeModel(model);
  const session = await ortSessionFactory.create(bytes);
  const check = Array.from({ length: checkCount }, (_, i) => recogniserSample(seed, 'check', i));
  const accuracy = await recogniserAccuracy(session, check);
  await session.release();
  writeFileAtomic(join(out, 'model.onnx'), bytes);
  const labels = {
    resolution: recogniserResolution,
    featureWidth,
    heads: recogniserHeads,
    trainedWith: { seed, steps, batch, images, lr },
    heldOutAccuracy: { samples: checkCount, ...accuracy },
  };
  writeFileAtomic(join(out, 'labels.json'), `${JSON.stringify(labels, null, 2)}\n`);
  for (const [head, acc] of Object.entries(accuracy))
    process.stderr.write(`${head.padEnd(11)} ${(acc * 100).toFixed(1)} %\n`);
  process.stdout.write(`${join(out, 'model.onnx')}\n`);
};
