/**
 * A CLIPTextModel graph (SD1.x's text encoder, scaled down by config) with Optimum's interface:
 * `input_ids` int32 [batch, sequence ≤ maxPositions] → `last_hidden_state` [batch, sequence, hidden] and
 * `pooler_output` [batch, hidden], pooled at the first occurrence of the largest id (EOS), as CLIP does.
 * Optional parts make SDXL's encoders: exact GELU, a `text_projection` (CLIPTextModelWithProjection, output
 * `text_embeds`), the `hidden_states.N` outputs Optimum writes for `output_hidden_states`, and the other pooling rule.
 */
import { tensor } from '../../common/tensor.ts';
import { DataType } from '../onnx/builder.ts';
import { buildModel, type BuildOptions, type BuiltModel } from './built-model.ts';
import type { LayerContext } from './layers/context.ts';
import { layerNorm } from './layers/norm.ts';
import { linear } from './layers/linear.ts';
import { kaiming } from './params.ts';
import { gelu, quickGelu } from './layers/activations.ts';
import { attentionModule } from './layers/attention.ts';

export interface TextEncoderConfig {
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  intermediateSize: number;
  maxPositions: number;
  eps: number;
  /** transformers' `hidden_act`: CLIP-L (SD1, SDXL's first encoder) uses quick_gelu, OpenCLIP bigG exact gelu. */
  hiddenAct?: 'quick_gelu' | 'gelu';
  /**
   * CLIPTextModelWithProjection: the pooled token goes through a bias-free `text_projection` [hidden → this] and
   * comes out as `text_embeds` instead of `pooler_output`.
   */
  projectionDim?: number;
  /**
   * Optimum's `output_hidden_states` outputs: `hidden_states.0` (the embeddings) … `hidden_states.N` (layer N's
   * output, before the final LayerNorm), as transformers' `hidden_states` tuple — SDXL reads `hidden_states.{N−1}`.
   */
  hiddenStates?: boolean;
  /** Which token is pooled: see `poolingFor`. Default 'argmax' (what the tiny model was built with). */
  pooling?: 'argmax' | { firstEos: number };
}

/**
 * transformers' CLIPTextTransformer pooling rule for a config's `eos_token_id` (modeling_clip.py, 4.31 on, PR
 * #24773): a config with the legacy `eos_token_id: 2` — SDXL's text_encoder and text_encoder_2 configs carry it —
 * pools at `input_ids.argmax(-1)`, which is EOS only while no id above EOS occurs (an added textual-inversion token
 * has a larger id, so a prompt holding one pools at that token); any other id pools at its first occurrence.
 *
 * @example
 * poolingFor(2) // 'argmax' — SDXL's configs
 * poolingFor(49407) // { firstEos: 49407 }
 */
export const poolingFor = (eosTokenId: number): TextEncoderConfig['pooling'] =>
  eosTokenId === 2 ? 'argmax' : { firstEos: eosTokenId };

/** The tiny model's encoder: width 64, 2 layers of 2 heads, MLP 256, 77 positions. */
export const tinyTextEncoderConfig = (vocabSize: number): TextEncoderConfig => ({
  vocabSize,
  hiddenSize: 64,
  layers: 2,
  heads: 2,
  intermediateSize: 256,
  maxPositions: 77,
  eps: 1e-5,
});

/** float32's most negative finite value: what transformers' causal mask adds where attention is not allowed. */
const FLOAT32_MIN = -3.4028234663852886e38;

/** Strictly-upper-triangular [S, S] additive mask (0 on and below the diagonal) for the current sequence length. */
const causalMask = (ctx: LayerContext, seqLen: string): string => {
  const { b } = ctx;
  const square = b.op('Concat', [seqLen, seqLen], { axis: 0 }, { name: 'causal_mask/Concat' });
  const one = tensor('float32', [1], Float32Array.of(1));
  const ones = b.op('ConstantOfShape', [square], { value: one }, { name: 'causal_mask/ConstantOfShape' });
  const above = b.op('Trilu', [ones, b.constI64(1, [], 'causal_mask_k')], { upper: 1 }, { name: 'causal_mask/Trilu' });
  return b.op('Mul', [above, ctx.f32(FLOAT32_MIN)], {}, { name: 'causal_mask/Mul' });
};

const encoderLayer = (ctx: LayerContext, name: string, x: string, c: TextEncoderConfig, mask: string): string => {
  const { b } = ctx;
  const names = { q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'out_proj' };
  const attn = attentionModule(
    ctx,
    `${name}.self_attn`,
    layerNorm(ctx, `${name}.layer_norm1`, x, c.hiddenSize, c.eps),
    undefined,
    {
      dim: c.hiddenSize,
      heads: c.heads,
      qkvBias: true,
      names,
      mask,
    },
  );
  const h = b.op('Add', [x, attn], {}, { name: `${name}/Add` });
  let m = linear(
    ctx,
    `${name}.mlp.fc1`,
    layerNorm(ctx, `${name}.layer_norm2`, h, c.hiddenSize, c.eps),
    c.hiddenSize,
    c.intermediateSize,
  );
  const act = c.hiddenAct === 'gelu' ? gelu : quickGelu;
  m = linear(ctx, `${name}.mlp.fc2`, act(ctx, `${name}.mlp.activation_fn`, m), c.intermediateSize, c.hiddenSize);
  return b.op('Add', [h, m], {}, { name: `${name}/Add_1` });
};

const buildGraph = (ctx: LayerContext, c: TextEncoderConfig) => {
  const { b, p } = ctx;
  const ids = b.input('input_ids', 'int32', ['batch', 'sequence']);
  const std = { kind: 'normal', std: 0.02 } as const;
  const tokenTable = p.param('text_model.embeddings.token_embedding.weight', [c.vocabSize, c.hiddenSize], std);
  const positionTable = p.param('text_model.embeddings.position_embedding.weight', [c.maxPositions, c.hiddenSize], std);
  const positionIds = b.constI64(
    Array.from({ length: c.maxPositions }, (_, i) => i),
    [1, c.maxPositions],
    'text_model.embeddings.position_ids',
  );
  const seqLen = b.op(
    'Gather',
    [b.op('Shape', [ids], {}, { name: 'embeddings/Shape' }), ctx.i64([1])],
    { axis: 0 },
    { name: 'embeddings/Gather_len' },
  );
  const positions = b.op('Slice', [positionIds, ctx.i64([0]), seqLen, ctx.i64([1])], {}, { name: 'embeddings/Slice' });
  const tokens = b.op(
    'Gather',
    [tokenTable, ids],
    { axis: 0 },
    { name: 'text_model.embeddings.token_embedding/Gather' },
  );
  const pos = b.op(
    'Gather',
    [positionTable, positions],
    { axis: 0 },
    { name: 'text_model.embeddings.position_embedding/Gather' },
  );
  let x = b.op('Add', [tokens, pos], {}, { name: 'text_model.embeddings/Add' });
  const mask = causalMask(ctx, seqLen);
  const states = [x];
  for (let l = 0; l < c.layers; l++) {
    x = encoderLayer(ctx, `text_model.encoder.layers.${l}`, x, c, mask);
    states.push(x);
  }
  const last = layerNorm(ctx, 'text_model.final_layer_norm', x, c.hiddenSize, c.eps);
  b.output(last, 'float32', ['batch', 'sequence', c.hiddenSize], 'last_hidden_state');
  // Legacy CLIP pools at input_ids.argmax(-1): EOS has the largest id and ArgMax returns its first occurrence.
  const pooling = c.pooling ?? 'argmax';
  // The newer rule pools at the first EOS: ArgMax over (ids == eos) as int32 returns its first 1.
  const scores =
    pooling === 'argmax'
      ? ids
      : b.op(
          'Cast',
          [
            b.op(
              'Equal',
              [ids, b.initializer('pooler.eos_token_id', tensor('int32', [], Int32Array.of(pooling.firstEos)))],
              {},
              { name: 'pooler/Equal' },
            ),
          ],
          { to: DataType.INT32 },
          { name: 'pooler/Cast' },
        );
  const eos = b.op('ArgMax', [scores], { axis: -1, keepdims: 0 }, { name: 'pooler/ArgMax' });
  const index = b.op('Unsqueeze', [eos, ctx.i64([1])], {}, { name: 'pooler/Unsqueeze' });
  const pooled = b.op('GatherND', [last, index], { batch_dims: 1 }, { name: 'pooler/GatherND' });
  if (c.projectionDim === undefined) b.output(pooled, 'float32', ['batch', c.hiddenSize], 'pooler_output');
  else {
    const w = p.param('text_projection.weight', [c.hiddenSize, c.projectionDim], kaiming(c.hiddenSize));
    const projected = b.op('MatMul', [pooled, w], {}, { name: 'text_projection/MatMul' });
    b.output(projected, 'float32', ['batch', c.projectionDim], 'text_embeds');
  }
  if (c.hiddenStates)
    states.forEach((h, i) => b.output(h, 'float32', ['batch', 'sequence', c.hiddenSize], `hidden_states.${i}`));
};

/**
 * Builds the text encoder; every weight inline (CLIP-L is 492 MB, but the tiny one is small enough).
 *
 * @example
 * const { model } = buildTextEncoder(tinyTextEncoderConfig(1024), { seed: 0 });
 */
export const buildTextEncoder = (config: TextEncoderConfig, o: BuildOptions = {}): BuiltModel =>
  buildModel('text_encoder', o, undefined, (ctx) => buildGraph(ctx, config));
