/**
 * Pipeline overhead: a 50-step DDIM generation on `tiny` through the RxJS pipeline — with its default frames:
 * previews and latents — vs a bare loop calling the same onnxruntime sessions with the same numerics and emitting
 * nothing, alternated in one run (goal ≤ 1.02). Prints the ratio's spread over the rounds (each round's pipeline
 * time over the same round's bare loop), so whether the goal holds is read against the noise. Then frames/s
 * streamed to a local HTTP client. Prints a final JSON line.
 *
 *   npx bun bench/generate-overhead.ts [--rounds 5] [--steps 50]
 */
import { lastValueFrom, toArray } from 'rxjs';
import { parseArgs } from 'node:util';
import { openModel } from '../adapters/open-model.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { createDdim } from '../common/numerics/ddim.ts';
import { createRng } from '../common/numerics/rng.ts';
import { runTextEncoder, concatBatch, splitBatch } from '../weights/text-encoder-io.ts';
import { runUnet } from '../weights/unet-io.ts';
import { runVaeDecoder } from '../weights/vae-io.ts';
import { tensor } from '../common/tensor.ts';
import { createApp } from '../pipeline/http/app.ts';
import { serve } from '../adapters/serve.ts';
import { decodeFrames } from '../pipeline/wire/msgpack-stream.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, steps: { type: 'string', default: '50' } },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const model = await openModel('tiny');
const request = parseGenerateRequest({ prompt: 'a photo of a red star on a blue background', steps, seed: 1 });
// The server's defaults: previews and latent frames on, as a client of `POST /v1/generate` gets them.
const desc = {};

const viaPipeline = async () => {
  const t = performance.now();
  await lastValueFrom(runGenerate(request, { openModel: async () => model }, desc).pipe(toArray()));
  return performance.now() - t;
};

// The same work written as a plain loop over the sessions: tokenize, encode, noise, 50 × (UNet+CFG, DDIM), decode.
const bare = async () => {
  const t = performance.now();
  const [te, unet, dec] = await Promise.all([
    model.session('text_encoder'),
    model.session('unet'),
    model.session('vae_decoder'),
  ]);
  const ddim = createDdim(model.scheduler);
  const [cond, uncond] = await runTextEncoder(te, [
    model.tokenizer.tokenize(request.prompt).ids,
    model.tokenizer.tokenize('').ids,
  ]);
  const h = model.info.resolution / model.info.vaeScale;
  let x = createRng(request.seed)
    .fork('initial-noise')
    .fillNormal(new Float32Array(model.info.latentChannels * h * h));
  const dims = [1, model.info.latentChannels, h, h];
  for (const ts of ddim.timesteps(steps)) {
    const xt = tensor('float32', dims, x);
    const [pu, pc] = splitBatch(await runUnet(unet, concatBatch([xt, xt]), ts, concatBatch([uncond, cond])));
    const eps = pu.data.map((u, i) => u + request.guidance * (pc.data[i] - u));
    x = ddim.step({ modelOutput: eps, timestep: ts, sample: x, eta: 0, numSteps: steps }).prevSample;
  }
  await runVaeDecoder(
    dec,
    tensor(
      'float32',
      dims,
      x.map((v) => v / model.info.scalingFactor),
    ),
  );
  return performance.now() - t;
};

await viaPipeline(); // warm both paths (session init, JIT)
await bare();
const p: number[] = [];
const b: number[] = [];
for (let i = 0; i < rounds; i++) {
  p.push(await viaPipeline());
  b.push(await bare());
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const overhead = median(p) / median(b);
const perRound = p.map((t, i) => t / b[i]).sort((x, y) => x - y);
console.log(
  `pipeline ${median(p).toFixed(1)} ms, bare loop ${median(b).toFixed(1)} ms (median of ${rounds}; ${steps} steps) → ratio ${overhead.toFixed(3)} (goal ≤ 1.02)`,
);
console.log(
  `per-round ratios: min ${perRound[0].toFixed(3)}, median ${median(perRound).toFixed(3)}, max ${perRound.at(-1)!.toFixed(3)}`,
);

// Frames/s to a local client: every frame kind on, streamed over HTTP and decoded.
const app = createApp({ generate: (req) => runGenerate(req, { openModel: async () => model }) });
const server = await serve(app, { host: '127.0.0.1', port: 0 });
const t0 = performance.now();
const res = await fetch(`${server.url}/v1/generate`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ prompt: request.prompt, steps }),
});
let frames = 0;
for await (const _f of decodeFrames(res.body!)) frames++;
const secs = (performance.now() - t0) / 1000;
await server.close();
console.log(`HTTP stream: ${frames} frames in ${secs.toFixed(2)} s → ${(frames / secs).toFixed(1)} frames/s`);
console.log(
  JSON.stringify({
    bench: 'generate-overhead',
    steps,
    rounds,
    pipelineMs: median(p),
    bareMs: median(b),
    overheadRatio: overhead,
    roundRatios: perRound,
    httpFrames: frames,
    httpFramesPerSec: frames / secs,
  }),
);
process.exit(0);
