/**
 * The server's HTTP API as the page uses it. Runs answer with a msgpack frame stream (see frames.js); everything
 * else is JSON, and failures carry `{ error: { code, message, field? } }`.
 */

/** A failed request, with the server's error code when it sent one. */
export class ApiError extends Error {
  /** @param {string} code @param {string} message @param {number} status */
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** Throws an ApiError for a non-2xx response, reading the server's JSON error body when there is one. */
export const ensureOk = async (res) => {
  if (res.ok) return res;
  const body = await res.json().catch(() => undefined);
  const e = body?.error;
  throw new ApiError(e?.code ?? 'http', e?.message ?? `${res.status} ${res.statusText}`, res.status);
};

const json = async (path) => (await ensureOk(await fetch(path, { headers: { accept: 'application/json' } }))).json();
const postJson = (path, body, signal) =>
  fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

/** `GET /health`: `{ ok, version }`. */
export const health = () => json('/health');

/** `GET /v1/stages`: the registered alternatives for every swappable stage, by pipeline kind. */
export const stages = () => json('/v1/stages');

/** `GET /v1/runs`: every run the server knows, `[{ id, kind, status, step, of, … }]`. */
export const listRuns = () => json('/v1/runs');

/** `POST /v1/generate`: starts a generation; resolves to the streaming response (not yet read). */
export const startGenerate = (request, signal) => postJson('/v1/generate', request, signal);

/**
 * `POST /v1/train`: starts a training run. With uploaded files the request travels as multipart, the JSON in a
 * `request` field and each image as an `images` part; otherwise `request.images` names a server folder.
 */
export const startTrain = (request, files, signal) => {
  if (!files?.length) return postJson('/v1/train', request, signal);
  const form = new FormData();
  const { images: _ignored, ...rest } = request;
  form.set('request', JSON.stringify(rest));
  for (const f of files) form.append('images', f, f.name);
  return fetch('/v1/train', { method: 'POST', body: form, signal });
};

/** `GET /v1/runs/:id/frames`: the run's record frames so far and its latest previews, then live frames. */
export const attachRun = (id, signal) => fetch(`/v1/runs/${encodeURIComponent(id)}/frames`, { signal });

/** `DELETE /v1/runs/:id`: asks the server to stop a run. */
export const cancelRun = async (id) =>
  ensureOk(await fetch(`/v1/runs/${encodeURIComponent(id)}`, { method: 'DELETE' }));

/** Where the learned embedding of a training run downloads from. */
export const embeddingUrl = (id) => `/v1/runs/${encodeURIComponent(id)}/embedding`;
