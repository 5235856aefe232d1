/**
 * Request bodies read with a size limit: Content-Length is checked before reading, and the bytes are counted while
 * reading as well (a chunked body has no length, and a length can lie), so an oversized upload is refused after
 * at most `limit` bytes, never buffered whole. Broken JSON is a bad_request naming the problem.
 */
import { PipelineError } from '../../common/errors.ts';

const mib = (n: number) => `${Math.round((n / 2 ** 20) * 10) / 10} MiB`;
const tooLarge = (limit: number, what: string) =>
  new PipelineError('too_large', `${what} is larger than this server accepts (${mib(limit)})`, { limit });

/**
 * The body's bytes, at most `limit` of them.
 * @throws PipelineError('too_large') when Content-Length or the bytes read exceed `limit`.
 * @example const bytes = await readBodyBytes(c.req.raw, 50 * 2 ** 20, 'upload');
 */
export const readBodyBytes = async (
  req: Request,
  limit: number,
  what = 'request body',
): Promise<Uint8Array<ArrayBuffer>> => {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > limit) throw tooLarge(limit, what);
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit, what);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
};

/**
 * Parses JSON text, or says why not.
 * @throws PipelineError('bad_request') with `field` when given.
 * @example parseJson('{"a":1}') // { a: 1 }
 */
export const parseJson = (text: string, field?: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (e) {
    const where = field ? `${field}: ` : 'body ';
    throw new PipelineError(
      'bad_request',
      `${where}is not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
      field ? { field } : undefined,
    );
  }
};

/**
 * A JSON body of at most `limit` bytes.
 * @throws PipelineError('too_large' | 'bad_request').
 * @example const body = await jsonBody(c.req.raw, 2 ** 20);
 */
export const jsonBody = async (req: Request, limit: number): Promise<unknown> =>
  parseJson(new TextDecoder().decode(await readBodyBytes(req, limit)));

/**
 * A multipart/form-data body of at most `limit` bytes, parsed by the runtime's own FormData parser.
 * @throws PipelineError('too_large') over the limit, 'bad_request' when it is not valid multipart.
 * @example const form = await formBody(c.req.raw, 50 * 2 ** 20); form.getAll('images')
 */
export const formBody = async (req: Request, limit: number): Promise<FormData> => {
  const bytes = await readBodyBytes(req, limit, 'upload');
  try {
    return await new Response(bytes, { headers: { 'content-type': req.headers.get('content-type') ?? '' } }).formData();
  } catch (e) {
    throw new PipelineError(
      'bad_request',
      `body is not valid multipart/form-data: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
};

/** True when the request says its body is multipart/form-data. */
export const isMultipart = (req: Request): boolean =>
  /^multipart\/form-data\b/i.test(req.headers.get('content-type') ?? '');
