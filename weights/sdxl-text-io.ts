/**
 * SDXL's text conditioning from its two encoders, as diffusers' StableDiffusionXLPipeline.encode_prompt computes
 * it: the context is each encoder's penultimate hidden state (`hidden_states[-2]`), concatenated on the last axis
 * (encoder 1's width first); the pooled prompt is text_encoder_2's projected `text_embeds` (its graph pools by the
 * rule its config asks transformers for — see weights/sdxl-info.ts).
 */
import { PipelineError } from '../common/errors.ts';
import { floatArray } from '../common/numerics/half.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import type { SdxlInfo } from './model-info.ts';
import type { Session } from './session.ts';
import { idsTensor, splitBatch } from './text-encoder-io.ts';

/** One prompt's SDXL conditioning: context [1, T, width₁ + width₂] and pooled [1, pooledWidth]. */
export interface SdxlText {
  readonly context: Tensor<'float32'>;
  readonly pooled: Tensor<'float32'>;
}

const f32 = (t: Tensor, name: string): Tensor<'float32'> => {
  if (t.dtype === 'float32') return t as Tensor<'float32'>;
  if (t.dtype === 'float16') return tensor('float32', t.dims, floatArray(t.data as Uint16Array));
  throw new PipelineError(
    'bad_model',
    `text encoder output '${name}' is ${t.dtype}; pseudoword needs float32 or float16`,
  );
};

/** Runs one encoder on every row (one batch when its batch is free) and returns the named outputs per row. */
const runRows = async (s: Session, rows: number[][], names: string[]): Promise<Tensor<'float32'>[][]> => {
  const input = (s.inputs.find((i) => i.name === 'input_ids') ?? s.inputs[0]).name;
  const d = (s.inputs.find((i) => i.name === 'input_ids') ?? s.inputs[0]).shape[0];
  const run = async (batch: number[][]) => {
    const out = await s.run({ [input]: idsTensor(s, batch) }, names);
    return names.map((n) => f32(out[n], n));
  };
  if ((typeof d !== 'number' || d < 0) && rows.length > 1) {
    const outs = (await run(rows)).map(splitBatch);
    return rows.map((_, r) => outs.map((o) => o[r]));
  }
  const result: Tensor<'float32'>[][] = [];
  for (const r of rows) result.push(await run([r]));
  return result;
};

/** [1, T, a] ‖ [1, T, b] → [1, T, a + b]. */
export const concatLastAxis = (x: Tensor<'float32'>, y: Tensor<'float32'>): Tensor<'float32'> => {
  const a = x.dims[x.dims.length - 1];
  const b = y.dims[y.dims.length - 1];
  const rows = x.data.length / a;
  if (y.data.length / b !== rows)
    throw new PipelineError(
      'shape_mismatch',
      `cannot join hidden states [${x.dims.join(', ')}] and [${y.dims.join(', ')}]: different sequence lengths`,
    );
  const out = new Float32Array(rows * (a + b));
  for (let r = 0; r < rows; r++) {
    out.set(x.data.subarray(r * a, (r + 1) * a), r * (a + b));
    out.set(y.data.subarray(r * b, (r + 1) * b), r * (a + b) + a);
  }
  return tensor('float32', [...x.dims.slice(0, -1), a + b], out);
};

/**
 * Encodes prompts with both SDXL encoders: `ids1[i]` (tokenizer) and `ids2[i]` (tokenizer_2) are the same prompt.
 * @example
 * const [cond, uncond] = await runSdxlTextEncoders([enc1, enc2], model.info.sdxl, [c1, u1], [c2, u2]);
 */
export const runSdxlTextEncoders = async (
  encoders: readonly [Session, Session],
  info: SdxlInfo,
  ids1: number[][],
  ids2: number[][],
): Promise<SdxlText[]> => {
  const one = await runRows(encoders[0], ids1, [info.contextOutputs[0]]);
  const two = await runRows(encoders[1], ids2, [info.contextOutputs[1], info.pooledOutput]);
  return one.map(([h1], i) => ({ context: concatLastAxis(h1, two[i][0]), pooled: two[i][1] }));
};
