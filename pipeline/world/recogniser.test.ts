import { describe, expect, it } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { differentiate } from '../../weights/autodiff/differentiate.ts';
import { encodeModel } from '../../weights/onnx/proto.ts';
import { readTensorProto } from '../../weights/onnx/tensor-proto.ts';
import { float32, tensor } from '../../common/tensor.ts';
import { rgbaToTensor } from '../../common/image/image.ts';
import { buildRecogniser, logitWidth, oneHotTargets, recogniserHeads, recogniserParams } from './recogniser.ts';
import { recogniserSample } from './recogniser-train.ts';
import { recogniserAccuracy, recognise } from './recognise.ts';
import { conceptIdentity, meanCosine } from './eval.ts';
import { heldOutConcepts } from './concepts.ts';
import { sampleConcept, sampleScene } from './sample.ts';
import { createRng } from '../../common/numerics/rng.ts';

const shipped = new URL('../../weights/shipped/recogniser/model.onnx', import.meta.url);

describe('recogniser graph', () => {
  it('has a loss gradient whose length matches central differences along it, for weights in every layer', async () => {
    const B = 2;
    const model = buildRecogniser({ seed: 3, lossBatch: B });
    const names = recogniserParams(model);
    const init = new Map(model.graph.initializers.map((t) => [t.name, t]));
    const values = new Map(names.map((n) => [n, readTensorProto(init.get(n)!)]));
    const session = await ortSessionFactory.create(encodeModel(differentiate(model, { of: 'loss', wrt: names })));
    const batch = Array.from({ length: B }, (_, i) => recogniserSample(1, 'check', i));
    const fixed = {
      image: rgbaToTensor(batch.map((s) => s.image)),
      targets: tensor('float32', [B, logitWidth], oneHotTargets(batch.map((s) => s.scene))),
    };
    const run = (over: Record<string, Float32Array> = {}) =>
      session.run({
        ...fixed,
        ...Object.fromEntries(
          names.map((n) => [n, float32(values.get(n)!.dims, over[n] ?? (values.get(n)!.data as Float32Array))]),
        ),
      });
    const base = await run();
    for (const name of ['conv0.weight', 'conv2.bias', 'conv3.weight', 'fc.weight', 'head.weight']) {
      const w = values.get(name)!.data as Float32Array;
      const g = base[`${name}_grad`].data as Float32Array;
      // Along the unit gradient direction the directional derivative is |g| itself: the strongest signal a
      // float32 loss allows, and a wrong gradient (any direction but the true one) reads smaller.
      const norm = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
      const eps = 0.01;
      const at = async (s: number) =>
        ((await run({ [name]: w.map((x, i) => x + (s * eps * g[i]) / norm) })).loss.data as Float32Array)[0];
      const numeric = ((await at(1)) - (await at(-1))) / (2 * eps);
      expect(norm).toBeGreaterThan(1e-3);
      expect(Math.abs(numeric - norm)).toBeLessThan(0.05 * norm + 5e-4);
    }
    await session.release();
  });

  it('starts at about the chance loss, the sum of log label counts', async () => {
    const B = 8;
    const model = buildRecogniser({ seed: 0, lossBatch: B });
    const s = await ortSessionFactory.create(encodeModel(model));
    const batch = Array.from({ length: B }, (_, i) => recogniserSample(2, 'check', i));
    const r = await s.run({
      image: rgbaToTensor(batch.map((x) => x.image)),
      targets: tensor('float32', [B, logitWidth], oneHotTargets(batch.map((x) => x.scene))),
    });
    const chance = recogniserHeads.reduce((a, h) => a + Math.log(h.labels.length), 0);
    expect(Math.abs((r.loss.data as Float32Array)[0] - chance)).toBeLessThan(1.5);
    await s.release();
  });
});

describe.if(existsSync(shipped))('shipped recogniser', () => {
  it('ships labels.json with the heads and label order the code uses', () => {
    const labels = JSON.parse(readFileSync(new URL('labels.json', shipped), 'utf8'));
    expect(labels.heads).toEqual(recogniserHeads);
  });

  it('scores at least twice chance on every head on fresh held-out samples', async () => {
    const s = await ortSessionFactory.create(new Uint8Array(readFileSync(shipped)));
    // Seed 77 was never used in training (the shipped one trains on seed 0's 'train' split).
    const check = Array.from({ length: 150 }, (_, i) => recogniserSample(77, 'check', i));
    const acc = await recogniserAccuracy(s, check);
    for (const h of recogniserHeads) expect(acc[h.name]).toBeGreaterThanOrEqual(Math.min(0.9, 2 / h.labels.length));
    await s.release();
  });

  it("gives a concept's images more similar features to each other than to random world images", async () => {
    const s = await ortSessionFactory.create(new Uint8Array(readFileSync(shipped)));
    const world = await recognise(
      s,
      Array.from({ length: 12 }, (_, i) => sampleScene(createRng(79).fork(`w${i}`)).image),
    );
    for (const c of heldOutConcepts) {
      const own = await recognise(
        s,
        Array.from({ length: 8 }, (_, i) => sampleConcept(createRng(80).fork(`${c}:${i}`), c).image),
      );
      expect(meanCosine(own, own, true)).toBeGreaterThan(meanCosine(own, world));
    }
    await s.release();
  });

  it("gives each head a distribution whose most likely label is the one it predicts, and a concept's own images a higher identity than the world's", async () => {
    const s = await ortSessionFactory.create(new Uint8Array(readFileSync(shipped)));
    const world = await recognise(
      s,
      Array.from({ length: 12 }, (_, i) => sampleScene(createRng(79).fork(`w${i}`)).image),
    );
    for (const r of world) {
      recogniserHeads.forEach((h) => {
        const p = Array.from(r.probabilities[h.name]);
        expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        expect(h.labels[p.indexOf(Math.max(...p))]).toBe(r.labels[h.name]);
      });
    }
    for (const c of heldOutConcepts) {
      const own = await recognise(
        s,
        Array.from({ length: 8 }, (_, i) => sampleConcept(createRng(80).fork(`${c}:${i}`), c).image),
      );
      expect(conceptIdentity(own, c)!).toBeGreaterThan(conceptIdentity(world, c)! + 0.2);
    }
    await s.release();
  });
});
