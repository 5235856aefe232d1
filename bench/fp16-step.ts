/**
 * float16 against float32 on the CPU, side by side in one run, on a model and its float16 conversion (our
 * `float16Folder`): ms per training step (one onnxruntime run: text encoder + UNet + loss + gradient) and per
 * UNet forward, rounds interleaved, medians printed with the ratio float16/float32. onnxruntime's CPU provider
 * computes nearly every float16 op in float32 between inserted Casts (bench/fp16-cpu-kernels.ts), so the ratio
 * says what those casts cost; on CUDA the float16 graph would run in half precision instead.
 *
 *   npx bun bench/fp16-step.ts [--model tiny] [--runs 10]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { diskModelFiles, writeFiles } from '../adapters/fs.ts';
import { openGraph } from '../adapters/graph-session.ts';
import { modelPath, openModel } from '../adapters/open-model.ts';
import { createRng } from '../common/numerics/rng.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import { injectVectors } from '../weights/embeddings/inject-vectors.ts';
import { float16Folder } from '../weights/float16-folder.ts';
import { decodeModel } from '../weights/onnx/proto.ts';
import type { Session } from '../weights/session.ts';
import { lossScaleFeed } from '../weights/training/loss-scale-feed.ts';
import { buildTrainGraph, trainInputs } from '../weights/training/train-graph.ts';
import { runUnet } from '../weights/unet-io.ts';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'tiny' }, runs: { type: 'string', default: '10' } },
});
const runs = Number(values.runs);
const src = await modelPath(values.model!);
const halfDir = mkdtempSync(join(tmpdir(), 'pseudoword-fp16-bench-'));
writeFiles(halfDir, await float16Folder(diskModelFiles(src)));

const setup = async (dir: string) => {
  const model = await openModel(dir);
  const te = injectVectors(decodeModel((await model.files.readBytes('text_encoder/model.onnx'))!));
  const unetGraph = decodeModel((await model.files.readBytes('unet/model.onnx'))!);
  const step: Session = await openGraph(buildTrainGraph(te.model, unetGraph), (init, loc) =>
    model.files.path(`${init.startsWith('te/') ? 'text_encoder' : 'unet'}/${loc}`),
  );
  const h = model.info.resolution / model.info.vaeScale;
  const lat = [1, model.info.latentChannels, h, h];
  const n = lat.reduce((a, b) => a * b);
  const tok = model.tokenizer;
  const ids = tok.tokenize('a photo of a', { length: 77 }).ids;
  const idsInfo = step.inputs.find((i) => i.name === trainInputs.ids)!;
  const tInfo = step.inputs.find((i) => i.name === trainInputs.timestep)!;
  const feeds: Record<string, Tensor> = {
    [trainInputs.ids]:
      idsInfo.dtype === 'int64'
        ? tensor('int64', [1, 77], BigInt64Array.from(ids, BigInt))
        : tensor('int32', [1, 77], Int32Array.from(ids)),
    [trainInputs.vectors]: tensor('float32', [1, te.dim], createRng(3).fillNormal(new Float32Array(te.dim))),
    [trainInputs.latents]: tensor('float32', lat, createRng(1).fillNormal(new Float32Array(n))),
    [trainInputs.timestep]:
      tInfo.dtype === 'int64'
        ? tensor('int64', tInfo.shape.length ? [1] : [], BigInt64Array.of(500n))
        : tensor('float32', tInfo.shape.length ? [1] : [], Float32Array.of(500)),
    [trainInputs.target]: tensor('float32', lat, createRng(2).fillNormal(new Float32Array(n))),
    [trainInputs.weights]: tensor('float32', [1], Float32Array.of(1)),
    ...lossScaleFeed(step, 2 ** 16),
  };
  const unet = await model.session('unet');
  const hidden = tensor('float32', [1, 77, model.info.hiddenSize], new Float32Array(77 * model.info.hiddenSize));
  const sample = tensor('float32', lat, createRng(4).fillNormal(new Float32Array(n)));
  return {
    step: () => step.run(feeds),
    unet: () => runUnet(unet, sample, 500, hidden),
  };
};

const [full, half] = [await setup(src), await setup(halfDir)];
const time = async (f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const ms = { step: [[], []] as number[][], unet: [[], []] as number[][] };
for (const k of ['step', 'unet'] as const) {
  await full[k]();
  await half[k](); // warm-up
  for (let r = 0; r < runs; r++) {
    ms[k][0].push(await time(full[k]));
    ms[k][1].push(await time(half[k]));
  }
}
console.log(`model ${values.model}, ${runs} interleaved runs, medians`);
const result: Record<string, { float32Ms: number; float16Ms: number; ratio: number }> = {};
for (const k of ['step', 'unet'] as const) {
  const [a, b] = [median(ms[k][0]), median(ms[k][1])];
  result[k] = { float32Ms: a, float16Ms: b, ratio: b / a };
  console.log(`${k.padEnd(5)} float32 ${a.toFixed(1)} ms  float16 ${b.toFixed(1)} ms  ratio ${(b / a).toFixed(2)}`);
}
console.log(JSON.stringify({ model: values.model, runs, ...result }));
