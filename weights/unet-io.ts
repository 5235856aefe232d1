/**
 * Feeding a UNet whatever its exporter chose: the timestep as a float or int, a scalar, [1] or [batch]; float32
 * or float16 sample and hidden states. All read from the session's metadata.
 */
import { PipelineError } from '../common/errors.ts';
import { floatArray, halfArray } from '../common/numerics/half.ts';
import type { IOInfo, Session } from './session.ts';
import { tensor, type Tensor } from '../common/tensor.ts';

const find = (s: Session, name: string, fallback: number): IOInfo => {
  const i = s.inputs.find((x) => x.name === name) ?? s.inputs[fallback];
  if (!i)
    throw new PipelineError(
      'bad_model',
      `the UNet has no input '${name}' (it has ${s.inputs.map((x) => x.name).join(', ')})`,
    );
  return i;
};

/** Converts a float32 tensor to the dtype an input wants (float32 or float16). */
export const asInputDtype = (t: Tensor<'float32'>, info: IOInfo): Tensor =>
  info.dtype === 'float16' ? tensor('float16', t.dims, halfArray(t.data)) : t;

/** The timestep tensor the session wants for `t`, repeated over `batch` when it is per-sample. */
export const timestepTensor = (info: IOInfo, t: number, batch: number): Tensor => {
  const dims = info.shape.length === 0 ? [] : info.shape[0] === 1 ? [1] : [batch];
  const n = dims.length === 0 ? 1 : dims[0];
  switch (info.dtype) {
    case 'int64':
      return tensor('int64', dims, new BigInt64Array(n).fill(BigInt(Math.round(t))));
    case 'int32':
      return tensor('int32', dims, new Int32Array(n).fill(Math.round(t)));
    case 'float16':
      return tensor('float16', dims, halfArray(new Float32Array(n).fill(t)));
    case 'float64':
      return tensor('float64', dims, new Float64Array(n).fill(t));
    default:
      return tensor('float32', dims, new Float32Array(n).fill(t));
  }
};

/** Whether the UNet accepts more than one sample per run. */
export const unetBatchIsFree = (s: Session): boolean => {
  const d = find(s, 'sample', 0).shape[0];
  return typeof d !== 'number' || d < 0;
};

/** SDXL's added conditioning for one UNet run: pooled prompts [B, pooled] and micro-conditioning [B, 6]. */
export interface AddedUnetInputs {
  readonly textEmbeds: Tensor<'float32'>;
  readonly timeIds: Tensor<'float32'>;
}

/** The `text_embeds`/`time_ids` feeds of an SDXL UNet (none for others); refuses a mismatch of model and inputs. */
const addedFeeds = (s: Session, added: AddedUnetInputs | undefined): Record<string, Tensor> => {
  const te = s.inputs.find((i) => i.name === 'text_embeds');
  const ti = s.inputs.find((i) => i.name === 'time_ids');
  if (!te || !ti) {
    if (added)
      throw new PipelineError('bad_model', 'the UNet takes no text_embeds/time_ids, but SDXL conditioning was given');
    return {};
  }
  if (!added)
    throw new PipelineError('bad_model', 'the UNet takes text_embeds and time_ids (an SDXL UNet) but none were given');
  return { [te.name]: asInputDtype(added.textEmbeds, te), [ti.name]: asInputDtype(added.timeIds, ti) };
};

/**
 * Runs the UNet once: sample [B,C,h,w], a timestep, hidden states [B,T,D] (and, for SDXL, `added`) → prediction
 * [B,C,h,w] in float32.
 */
export const runUnet = async (
  s: Session,
  sample: Tensor<'float32'>,
  t: number,
  hidden: Tensor<'float32'>,
  added?: AddedUnetInputs,
): Promise<Tensor<'float32'>> => {
  const si = find(s, 'sample', 0);
  const ti = find(s, 'timestep', 1);
  const hi = find(s, 'encoder_hidden_states', 2);
  const outName = s.outputs.find((o) => o.name === 'out_sample')?.name ?? s.outputs[0].name;
  const out = (
    await s.run(
      {
        [si.name]: asInputDtype(sample, si),
        [ti.name]: timestepTensor(ti, t, sample.dims[0]),
        [hi.name]: asInputDtype(hidden, hi),
        ...addedFeeds(s, added),
      },
      [outName],
    )
  )[outName];
  if (out.dtype === 'float16') return tensor('float32', out.dims, floatArray(out.data as Uint16Array));
  return out as Tensor<'float32'>;
};
