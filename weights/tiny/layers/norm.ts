/**
 * GroupNorm and LayerNorm written exactly as torch.onnx writes them for Stable Diffusion, so the pipeline and the
 * autodiff meet in the tiny model the same node patterns they meet in real exports.
 */
import { f } from '../../onnx/builder.ts';
import { ones, zeros } from '../params.ts';
import type { LayerContext } from './context.ts';

/**
 * nn.GroupNorm over NCHW as Reshape [N, G, −1] → InstanceNormalization (unit scale, zero bias) → Reshape back →
 * Mul γ → Add β. Normalising each row of the [N, G, C/G·H·W] view is exactly GroupNorm's statistics. γ and β are
 * stored as [C, 1, 1] so they broadcast over H, W (torch folds the same Unsqueeze into its constants).
 *
 * @example
 * const h = groupNorm(ctx, 'down_blocks.0.resnets.0.norm1', x, 32, 8, 1e-5);
 */
export const groupNorm = (
  ctx: LayerContext,
  name: string,
  x: string,
  channels: number,
  groups: number,
  eps: number,
): string => {
  const { b } = ctx;
  const grouped = b.op('Reshape', [x, ctx.i64([0, groups, -1])], {}, { name: `${name}/Reshape` });
  const unitScale = b.constF(new Array(groups).fill(1), [groups], `${name}.instance_scale`);
  const zeroBias = b.constF(new Array(groups).fill(0), [groups], `${name}.instance_bias`);
  const normed = b.op(
    'InstanceNormalization',
    [grouped, unitScale, zeroBias],
    { epsilon: f(eps) },
    { name: `${name}/InstanceNormalization` },
  );
  const back = b.op(
    'Reshape',
    [normed, b.op('Shape', [x], {}, { name: `${name}/Shape` })],
    {},
    { name: `${name}/Reshape_1` },
  );
  const gamma = ctx.p.param(`${name}.weight`, [channels, 1, 1], ones);
  const beta = ctx.p.param(`${name}.bias`, [channels, 1, 1], zeros);
  return b.op('Add', [b.op('Mul', [back, gamma], {}, { name: `${name}/Mul` }), beta], {}, { name: `${name}/Add` });
};

/**
 * nn.LayerNorm over the last axis: one LayerNormalization node from opset 17, and below that the decomposition
 * torch exports at opset 14 — ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add.
 *
 * @example
 * const h = layerNorm(ctx, 'text_model.final_layer_norm', x, 64);
 */
export const layerNorm = (ctx: LayerContext, name: string, x: string, dim: number, eps = 1e-5): string => {
  const { b } = ctx;
  const gamma = ctx.p.param(`${name}.weight`, [dim], ones);
  const beta = ctx.p.param(`${name}.bias`, [dim], zeros);
  if (ctx.opset >= 17)
    return b.op(
      'LayerNormalization',
      [x, gamma, beta],
      { axis: -1, epsilon: f(eps) },
      { name: `${name}/LayerNormalization` },
    );
  const n = (op: string, suffix = '') => ({ name: `${name}/${op}${suffix}` });
  const mean = b.op('ReduceMean', [x], { axes: [-1], keepdims: 1 }, n('ReduceMean'));
  const centred = b.op('Sub', [x, mean], {}, n('Sub'));
  const variance = b.op(
    'ReduceMean',
    [b.op('Pow', [centred, ctx.f32(2)], {}, n('Pow'))],
    { axes: [-1], keepdims: 1 },
    n('ReduceMean', '_1'),
  );
  const std = b.op('Sqrt', [b.op('Add', [variance, ctx.f32(eps)], {}, n('Add'))], {}, n('Sqrt'));
  const normed = b.op('Div', [centred, std], {}, n('Div'));
  return b.op('Add', [b.op('Mul', [normed, gamma], {}, n('Mul')), beta], {}, n('Add', '_1'));
};
