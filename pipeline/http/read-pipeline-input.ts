/**
 * A pipeline's input frames read to the end, for a run that executes elsewhere (a queue worker): each frame is
 * re-encoded as it arrives and the total is held to a limit, so a client cannot park an endless stream in Redis.
 */
import { Encoder } from '@msgpack/msgpack';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';

const encoder = new Encoder({ ignoreUndefined: true });

/**
 * @throws PipelineError('too_large') past `maxBytes`, naming the limit.
 * @example const input = await readInputWhole(body.frames, limits.queuedPipelineInputBytes);
 */
export const readInputWhole = async (frames: AsyncIterable<Frame>, maxBytes: number): Promise<Uint8Array[]> => {
  const out: Uint8Array[] = [];
  let total = 0;
  for await (const f of frames) {
    const bytes = encoder.encode(f);
    total += bytes.length;
    if (total > maxBytes)
      throw new PipelineError(
        'too_large',
        `a queued pipeline's input is read whole before it runs; it is over ${maxBytes} bytes. Send fewer frames per run`,
        { field: 'input', limit: maxBytes },
      );
    out.push(bytes);
  }
  return out;
};
