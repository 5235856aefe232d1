import { describe, expect, test } from 'bun:test';
import { GraphBuilder } from '../../onnx/builder.ts';
import { encodeModel } from '../../onnx/proto.ts';
import { readTensorProto } from '../../onnx/tensor-proto.ts';
import { float32 } from '../../../common/tensor.ts';
import { ortSessionFactory } from '../../../adapters/ort-session.ts';
import { ParamStore } from '../params.ts';
import { layerContext } from './context.ts';
import { addedTimeTextEmbedding } from './time-embedding.ts';

describe("SDXL's added text/time embedding", () => {
  test('equals sinusoids of the six time ids after the pooled text, through linear → SiLU → linear, by hand', async () => {
    const [P, T, OUT] = [3, 4, 5];
    const b = new GraphBuilder();
    const ctx = layerContext(b, new ParamStore(b, { seed: 7 }), 17);
    const text = b.input('text_embeds', 'float32', ['batch', P]);
    const time = b.input('time_ids', 'float32', ['batch', 6]);
    b.output(
      addedTimeTextEmbedding(ctx, text, time, { textWidth: P, timeWidth: T, outWidth: OUT }),
      'float32',
      null,
      'y',
    );
    const s = await ortSessionFactory.create(encodeModel(b.toModel(17)), { optimization: 'disabled' });
    const pooled = [
      [0.5, -1, 2],
      [0, 0.25, -0.75],
    ];
    const ids = [
      [1024, 768, 0, 16, 512, 512],
      [64, 64, 3, 0, 64, 64],
    ];
    const y = (await s.run({ text_embeds: float32([2, P], pooled.flat()), time_ids: float32([2, 6], ids.flat()) })).y;
    const weight = (name: string) =>
      Array.from(readTensorProto(b.graph.initializers.find((t) => t.name === name)!).data as Float32Array);
    const [w1, b1, w2, b2] = ['linear_1.weight', 'linear_1.bias', 'linear_2.weight', 'linear_2.bias'].map((n) =>
      weight(`add_embedding.${n}`),
    );
    // diffusers' get_timestep_embedding(flip_sin_to_cos=True, shift 0): freq_k = 10000^(−k/(T/2)), [cos, sin].
    const sinusoid = (v: number) => {
      const f = Array.from({ length: T / 2 }, (_, k) => Math.exp((-Math.log(10000) * k) / (T / 2)));
      return [...f.map((q) => Math.cos(v * q)), ...f.map((q) => Math.sin(v * q))];
    };
    // A Linear as PyTorch keeps it: W [out, in], y = W·x + b.
    const dense = (x: number[], w: number[], bias: number[]) =>
      bias.map((c, o) => c + x.reduce((a, v, i) => a + v * w[o * x.length + i], 0));
    for (let n = 0; n < 2; n++) {
      const x = [...pooled[n], ...ids[n].flatMap(sinusoid)];
      const h = dense(x, w1, b1).map((v) => v / (1 + Math.exp(-v)));
      const want = dense(h, w2, b2);
      expect(y.dims).toEqual([2, OUT]);
      want.forEach((v, o) => expect((y.data as Float32Array)[n * OUT + o]).toBeCloseTo(v, 4));
    }
  });
});
