import { describe, expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { decodeModel, encodeModel, type Model } from '../onnx/proto.ts';
import { tensor } from '../../common/tensor.ts';
import { differentiate } from './differentiate.ts';

// PyTorch-autograd golden gradients (test/fixtures/torch/make_fixtures.py): small SD-shaped text encoder, UNet and
// both chained, exported by torch.onnx at opsets 14 and 17 with a dynamic batch axis.
const dir = new URL('../../test/fixtures/autodiff/', import.meta.url).pathname;
const manifests = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

interface Manifest {
  model: string;
  inputs: Record<string, { dims: number[]; data: number[] }>;
  target: { dims: number[]; data: number[] };
  output: string;
  loss: number;
  grads: Record<string, { dims: number[]; data: number[] }>;
}

/** Appends L = mean((output − target)²) to a forward model, with `target` as a new input. */
const withMseLoss = (m: Model, output: string): Model => {
  const graph = { ...m.graph, nodes: [...m.graph.nodes], inputs: [...m.graph.inputs], outputs: [...m.graph.outputs] };
  const b = new GraphBuilder(graph);
  const t = b.input('target', 'float32', m.graph.outputs.find((o) => o.name === output)!.type!.shape!);
  const d = b.op('Sub', [output, t]);
  b.output(b.op('ReduceMean', [b.op('Mul', [d, d])], { keepdims: 0 }), 'float32', [], 'loss');
  return { ...m, graph };
};

const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
};

describe('gradients of PyTorch-exported models against PyTorch autograd', () => {
  test('the fixtures are present', () => expect(manifests.length).toBeGreaterThan(0));

  test.each(manifests)('%s: every recorded input gradient matches to rel-L2 ≤ 1e-5', async (file) => {
    const man = JSON.parse(readFileSync(dir + file, 'utf8')) as Manifest;
    const forward = decodeModel(new Uint8Array(readFileSync(dir + man.model)));
    const wrt = Object.keys(man.grads);
    const model = differentiate(withMseLoss(forward, man.output), { of: 'loss', wrt });
    const feeds = Object.fromEntries(
      Object.entries(man.inputs).map(([k, v]) => [k, tensor('float32', v.dims, Float32Array.from(v.data))]),
    );
    feeds.target = tensor('float32', man.target.dims, Float32Array.from(man.target.data));
    const out = await (await ortSessionFactory.create(encodeModel(model))).run(feeds);
    expect((out.loss.data as Float32Array)[0]).toBeCloseTo(man.loss, 5);
    for (const w of wrt) {
      const g = out[`${w}_grad`];
      expect(g.dims).toEqual(man.grads[w].dims);
      expect(relL2(g.data as Float32Array, man.grads[w].data)).toBeLessThanOrEqual(1e-5);
    }
  });

  test.each(manifests.filter((f) => f.startsWith('unet') || f.startsWith('text_unet')))(
    "%s: the same graph at batch 1 gives twice the first sample's gradients (the mean halves its count)",
    async (file) => {
      const man = JSON.parse(readFileSync(dir + file, 'utf8')) as Manifest;
      const forward = decodeModel(new Uint8Array(readFileSync(dir + man.model)));
      const wrt = Object.keys(man.grads);
      const model = differentiate(withMseLoss(forward, man.output), { of: 'loss', wrt });
      const first = (t: { dims: number[]; data: number[] }) =>
        tensor('float32', [1, ...t.dims.slice(1)], Float32Array.from(t.data.slice(0, t.data.length / t.dims[0])));
      const feeds = Object.fromEntries(Object.entries(man.inputs).map(([k, v]) => [k, first(v)]));
      feeds.target = first(man.target);
      const out = await (await ortSessionFactory.create(encodeModel(model))).run(feeds);
      for (const w of wrt) {
        const ref = first(man.grads[w]).data as Float32Array;
        expect(
          relL2(
            out[`${w}_grad`].data as Float32Array,
            ref.map((v) => 2 * v),
          ),
        ).toBeLessThanOrEqual(1e-5);
      }
    },
  );
});
