/**
 * A UNet2DCondition-shaped ONNX graph for benchmarks, built the way torch.onnx exports SD UNets: GroupNorm as
 * Reshape → InstanceNormalization → Reshape → Mul → Add, SiLU as x·σ(x), attention as MatMul/Softmax, GEGLU with
 * Split and erf GELU, LayerNormalization, nearest ×2 Resize, stride-2 Conv, skip Concats. Random weights.
 */
import { GraphBuilder, f } from '../weights/onnx/builder.ts';
import type { Model } from '../weights/onnx/proto.ts';
import { float32 } from '../common/tensor.ts';
import { createRng } from '../common/numerics/rng.ts';

/** Channel widths, latent side, text context length/width, attention heads and GroupNorm groups. */
export interface UnetSize {
  channels: [number, number];
  hw: number;
  ctxLen: number;
  ctxDim: number;
  heads: number;
  groups: number;
}

/** SD-like ratios at a size a CPU runs in well under a second. */
export const benchSize: UnetSize = { channels: [64, 128], hw: 32, ctxLen: 77, ctxDim: 256, heads: 4, groups: 32 };

/**
 * Builds the model (inputs `sample` [batch,4,hw,hw], `timestep` [batch], `encoder_hidden_states` [batch,ctxLen,ctxDim];
 * output `out_sample`) plus an MSE loss against a `target` input, output `loss`.
 */
export const unetLikeModel = (s: UnetSize = benchSize, opset = 17): Model => {
  const b = new GraphBuilder();
  const r = createRng(7);
  const w = (dims: number[], fanIn: number) =>
    b.initializer(
      'w',
      float32(
        dims,
        Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => r.normal() / Math.sqrt(fanIn)),
      ),
    );
  const full = (dims: number[], v: number) =>
    b.initializer('c', float32(dims, new Array(dims.reduce((p, d) => p * d, 1)).fill(v)));
  const [c0, c1] = s.channels;
  const sample = b.input('sample', 'float32', ['batch', 4, s.hw, s.hw]);
  const timestep = b.input('timestep', 'float32', ['batch']);
  const ctx = b.input('encoder_hidden_states', 'float32', ['batch', s.ctxLen, s.ctxDim]);
  const target = b.input('target', 'float32', ['batch', 4, s.hw, s.hw]);

  const conv = (x: string, cin: number, cout: number, k = 3, stride = 1) =>
    b.op('Conv', [x, w([cout, cin, k, k], cin * k * k), full([cout], 0.01)], {
      kernel_shape: [k, k],
      pads: new Array(4).fill(k >> 1),
      strides: [stride, stride],
    });
  const groupNorm = (x: string, c: number) => {
    const g = s.groups;
    const inorm = b.op(
      'InstanceNormalization',
      [b.op('Reshape', [x, b.constI64([0, g, -1])]), full([g], 1), full([g], 0)],
      { epsilon: f(1e-5) },
    );
    const back = b.op('Reshape', [inorm, b.op('Shape', [x])]);
    return b.op('Add', [b.op('Mul', [back, full([c, 1, 1], 1.1)]), full([c, 1, 1], 0.05)]);
  };
  const silu = (x: string) => b.op('Mul', [x, b.op('Sigmoid', [x])]);
  const linear = (x: string, din: number, dout: number, bias = true) => {
    const y = b.op('MatMul', [x, w([din, dout], din)]);
    return bias ? b.op('Add', [y, full([dout], 0.01)]) : y;
  };
  const layerNorm = (x: string, d: number) =>
    b.op('LayerNormalization', [x, full([d], 1), full([d], 0)], { axis: -1, epsilon: f(1e-5) });
  const heads = (x: string, n: number, c: number) =>
    b.op('Transpose', [b.op('Reshape', [x, b.constI64([0, n, s.heads, c / s.heads])])], { perm: [0, 2, 1, 3] });
  const attention = (x: string, n: number, c: number, context?: { v: string; len: number; dim: number }) => {
    const kv = context ?? { v: x, len: n, dim: c };
    const q = heads(linear(x, c, c, false), n, c);
    const k = b.op(
      'Transpose',
      [b.op('Reshape', [linear(kv.v, kv.dim, c, false), b.constI64([0, kv.len, s.heads, c / s.heads])])],
      { perm: [0, 2, 3, 1] },
    );
    const v = heads(linear(kv.v, kv.dim, c, false), kv.len, c);
    const p = b.op('Softmax', [b.op('Mul', [b.op('MatMul', [q, k]), b.constF(1 / Math.sqrt(c / s.heads))])], {
      axis: -1,
    });
    const o = b.op('Reshape', [
      b.op('Transpose', [b.op('MatMul', [p, v])], { perm: [0, 2, 1, 3] }),
      b.constI64([0, n, c]),
    ]);
    return linear(o, c, c);
  };
  const geglu = (x: string, c: number) => {
    const [h, gate] = b.opN('Split', [linear(x, c, 8 * c), b.constI64([4 * c, 4 * c])], 2, { axis: -1 });
    const gelu = b.op('Mul', [
      b.op('Mul', [gate, b.op('Add', [b.op('Erf', [b.op('Div', [gate, b.constF(Math.SQRT2)])]), b.constF(1)])]),
      b.constF(0.5),
    ]);
    return linear(b.op('Mul', [h, gelu]), 4 * c, c);
  };
  const transformer = (x: string, c: number, hw: number) => {
    const n = hw * hw;
    const h0 = b.op('Reshape', [
      b.op('Transpose', [conv(groupNorm(x, c), c, c, 1)], { perm: [0, 2, 3, 1] }),
      b.constI64([0, n, c]),
    ]);
    const h1 = b.op('Add', [attention(layerNorm(h0, c), n, c), h0]);
    const h2 = b.op('Add', [attention(layerNorm(h1, c), n, c, { v: ctx, len: s.ctxLen, dim: s.ctxDim }), h1]);
    const h3 = b.op('Add', [geglu(layerNorm(h2, c), c), h2]);
    const back = b.op('Transpose', [b.op('Reshape', [h3, b.constI64([0, hw, hw, c])])], { perm: [0, 3, 1, 2] });
    return b.op('Add', [conv(back, c, c, 1), x]);
  };
  const temb = (() => {
    const half = c0 / 2;
    const freqs = b.constF(
      Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half)),
      [1, half],
    );
    const arg = b.op('Mul', [b.op('Unsqueeze', [timestep, b.constI64([1])]), freqs]);
    const e = b.op('Concat', [b.op('Cos', [arg]), b.op('Sin', [arg])], { axis: -1 });
    return linear(silu(linear(e, c0, 4 * c0)), 4 * c0, 4 * c0);
  })();
  const resblock = (x: string, cin: number, cout: number) => {
    let h = conv(silu(groupNorm(x, cin)), cin, cout);
    h = b.op('Add', [h, b.op('Unsqueeze', [linear(silu(temb), 4 * c0, cout), b.constI64([2, 3])])]);
    h = conv(silu(groupNorm(h, cout)), cout, cout);
    return b.op('Add', [cin === cout ? x : conv(x, cin, cout, 1), h]);
  };
  const cat = (a: string, c: string) => b.op('Concat', [a, c], { axis: 1 });

  const hw = s.hw;
  const s0 = conv(sample, 4, c0);
  const s1 = transformer(resblock(s0, c0, c0), c0, hw);
  const s2 = conv(s1, c0, c0, 3, 2);
  let h = transformer(resblock(s2, c0, c1), c1, hw / 2);
  h = resblock(cat(h, s2), c1 + c0, c1);
  h = conv(
    b.op('Resize', [h, '', b.constF([1, 1, 2, 2])], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    }),
    c1,
    c1,
  );
  h = transformer(resblock(cat(h, s1), c1 + c0, c0), c0, hw);
  h = resblock(cat(h, s0), 2 * c0, c0);
  const out = conv(silu(groupNorm(h, c0)), c0, 4);
  b.output(out, 'float32', ['batch', 4, hw, hw], 'out_sample');
  const d = b.op('Sub', ['out_sample', target]);
  b.output(b.op('ReduceMean', [b.op('Mul', [d, d])], { keepdims: 0 }), 'float32', [], 'loss');
  return b.toModel(opset);
};
