/**
 * LoRA on a float16 export: the branch's float32 weights are cast after the scale, and a merge writes the weight
 * back as float16. A one-layer graph named as exporters name an attention projection.
 */
import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { floatArray, halfArray } from '../../common/numerics/half.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor } from '../../common/tensor.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { encodeModel } from '../onnx/proto.ts';
import { addLora } from './add-lora.ts';
import { loadedLayers } from './lora-file.ts';
import { initLora, loraFeeds } from './lora-params.ts';
import { mergeLora } from './merge-lora.ts';

const rng = createRng(2);
const b = new GraphBuilder();
b.input('x', 'float16', [2, 6]);
const w = b.initializer('to_q.weight', tensor('float16', [6, 4], halfArray(rng.fillNormal(new Float32Array(24)))));
b.op('MatMul', ['x', w], {}, { name: '/attn1/to_q/MatMul', outputs: ['y'] });
b.output('y', 'float16', [2, 4]);
const model = b.toModel(17);
const x = { x: tensor('float16', [2, 6], halfArray(rng.fillNormal(new Float32Array(12)))) };
const run = async (m: typeof model, feeds: Record<string, ReturnType<typeof tensor>> = {}) => {
  const s = await ortSessionFactory.create(encodeModel(m));
  const y = (await s.run({ ...x, ...feeds })).y.data as Uint16Array;
  await s.release();
  return floatArray(y);
};

describe('LoRA on a float16 layer', () => {
  test('with B = 0 the output is unchanged; merged and branched agree to float16 rounding', async () => {
    const lora = addLora(model, { rank: 2, alpha: 2 });
    expect(lora.layers.map((l) => l.path)).toEqual(['attn1.to_q']);
    const weights = initLora(lora.layers, lora.shape, 0);
    expect(await run(lora.model, loraFeeds(weights))).toEqual(await run(model));
    weights.params = weights.params.map((v) => v + 0.5 * rng.normal());
    const branched = await run(lora.model, loraFeeds(weights));
    const merged = mergeLora(model, [{ layers: loadedLayers(weights), scale: 1 }]);
    expect(merged.graph.initializers[0].dataType).toBe(10);
    const viaMerge = await run(merged);
    const base = await run(model);
    let diff = 0;
    let effect = 0;
    for (let i = 0; i < base.length; i++) {
      diff = Math.max(diff, Math.abs(viaMerge[i] - branched[i]));
      effect = Math.max(effect, Math.abs(branched[i] - base[i]));
    }
    expect(effect).toBeGreaterThan(0.1);
    expect(diff).toBeLessThan(2e-2);
  });
});
