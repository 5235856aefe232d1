import { PipelineError } from '../errors.ts';

/** Runs bytes through a Web-standard transform stream and collects the output. */
const pump = async (bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> => {
  // Copy into a plain ArrayBuffer-backed view: Blob refuses SharedArrayBuffer-backed data.
  const body = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(body).arrayBuffer());
};

/**
 * zlib-wrapped DEFLATE (RFC 1950), which is what PNG's IDAT carries: the Web `CompressionStream('deflate')`
 * format is exactly that (header, deflate data, Adler-32), so no extra framing is needed.
 *
 * @example
 * const z = await deflate(new TextEncoder().encode('hello'));
 */
export const deflate = (bytes: Uint8Array): Promise<Uint8Array> => pump(bytes, new CompressionStream('deflate'));

const joined = (chunks: Uint8Array[], total: number): Uint8Array => {
  const out = new Uint8Array(total);
  chunks.reduce((at, c) => (out.set(c, at), at + c.byteLength), 0);
  return out;
};

/**
 * Inverse of `deflate`, refusing to produce more than `maxBytes`: DEFLATE expands up to 1032:1, so a small
 * hostile stream (a zlib bomb) would otherwise fill memory. The output is read chunk by chunk as the
 * `DecompressionStream` makes it (64 KiB at a time in Bun, Deno and browsers) and the stream is cancelled as soon
 * as the count passes the cap, so at most one chunk more than `maxBytes` is ever inflated. Corrupt, truncated or
 * oversized data becomes `PipelineError(code)` (by default 'bad_image', since PNG is the caller here) instead of
 * the runtime's own TypeError.
 *
 * @example
 * const raw = await inflate(idat, rows * (stride + 1));
 */
export const inflate = async (
  bytes: Uint8Array,
  maxBytes: number,
  code: 'bad_image' | 'io' = 'bad_image',
): Promise<Uint8Array> => {
  const reader = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      total += r.value.byteLength;
      if (total > maxBytes) throw new PipelineError(code, `zlib data inflates past the ${maxBytes} bytes expected`);
      chunks.push(r.value);
    }
  } catch (e) {
    reader.cancel().catch(() => undefined);
    if (e instanceof PipelineError) throw e;
    throw new PipelineError(code, `zlib data is corrupt or truncated (${e instanceof Error ? e.message : String(e)})`);
  }
  return joined(chunks, total);
};
