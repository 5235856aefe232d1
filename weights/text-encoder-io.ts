/**
 * Feeding a text encoder whatever its exporter chose: int32 or int64 ids, a fixed or free batch dimension.
 * Read from the session, never assumed.
 */
import { PipelineError } from '../common/errors.ts';
import { floatArray } from '../common/numerics/half.ts';
import type { Session } from './session.ts';
import { tensor, type Tensor } from '../common/tensor.ts';

/** Token id rows as the session's `input_ids` wants them. */
export const idsTensor = (session: Session, rows: number[][]): Tensor => {
  const input = session.inputs.find((i) => i.name === 'input_ids') ?? session.inputs[0];
  const len = rows[0].length;
  const flat = rows.flat();
  return input.dtype === 'int64'
    ? tensor('int64', [rows.length, len], BigInt64Array.from(flat, BigInt))
    : tensor('int32', [rows.length, len], Int32Array.from(flat));
};

const batchIsFree = (s: Session) => {
  const d = (s.inputs.find((i) => i.name === 'input_ids') ?? s.inputs[0]).shape[0];
  return typeof d !== 'number' || d < 0;
};

/** Encodes each row of ids; returns one [1, T, D] hidden-state tensor per row. */
export const runTextEncoder = async (session: Session, rows: number[][]): Promise<Tensor<'float32'>[]> => {
  const name = (session.inputs.find((i) => i.name === 'input_ids') ?? session.inputs[0]).name;
  const outName = session.outputs.find((o) => o.name === 'last_hidden_state')?.name ?? session.outputs[0].name;
  const run = async (batch: number[][]) => {
    const out = (await session.run({ [name]: idsTensor(session, batch) }, [outName]))[outName];
    // A float16 export's hidden states are widened here; the UNet narrows them again if it wants float16.
    if (out.dtype === 'float16') return tensor('float32', out.dims, floatArray(out.data as Uint16Array));
    if (out.dtype !== 'float32')
      throw new PipelineError(
        'bad_model',
        `text encoder output '${outName}' is ${out.dtype}; pseudoword needs float32 or float16`,
      );
    return out as Tensor<'float32'>;
  };
  if (batchIsFree(session) && rows.length > 1) return splitBatch(await run(rows));
  const outs: Tensor<'float32'>[] = [];
  for (const r of rows) outs.push(await run([r]));
  return outs;
};

/** Splits [B, …] into B tensors [1, …] (copies, so each can be kept independently). */
export const splitBatch = (t: Tensor<'float32'>): Tensor<'float32'>[] => {
  const [b, ...rest] = t.dims;
  const n = t.data.length / b;
  return Array.from({ length: b }, (_, i) => tensor('float32', [1, ...rest], t.data.slice(i * n, (i + 1) * n)));
};

/** Stacks [1, …] tensors of equal shape into [B, …]. */
export const concatBatch = (ts: Tensor<'float32'>[]): Tensor<'float32'> => {
  const n = ts[0].data.length;
  const out = new Float32Array(n * ts.length);
  ts.forEach((t, i) => out.set(t.data, i * n));
  return tensor('float32', [ts.length, ...ts[0].dims.slice(1)], out);
};
