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

/**
 * Inverse of `deflate`; corrupt or truncated input becomes `PipelineError(code)` (by default 'bad_image', since
 * PNG is the caller here) instead of the runtime's own TypeError.
 *
 * @example
 * const raw = await inflate(idat);
 */
export const inflate = async (bytes: Uint8Array, code: 'bad_image' | 'io' = 'bad_image'): Promise<Uint8Array> => {
  try {
    return await pump(bytes, new DecompressionStream('deflate'));
  } catch (e) {
    throw new PipelineError(code, `zlib data is corrupt or truncated (${e instanceof Error ? e.message : String(e)})`);
  }
};
