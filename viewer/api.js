/**
 * The server's HTTP API as the page uses it. Runs answer with a msgpack frame stream (see frames.js); everything
 * else is JSON, and failures carry `{ error: { code, message, field? } }`.
 */

/**
 * The server's token, when it has one: given once in the page's address (`#token=…`, as `pseudoword serve` prints
 * it), then kept for this tab only and taken out of the address bar.
 */
const token = (() => {
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('pseudoword-token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('pseudoword-token');
})();

/**
 * `init` with the token's Authorization header added, when there is a token.
 * @param {RequestInit & { headers?: Record<string, string> }} [init]
 * @returns {RequestInit}
 */
const authed = (init = {}) =>
  token ? { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` } } : init;

/** A failed request, with the server's error code when it sent one. */
export class ApiError extends Error {
  /** @param {string} code @param {string} message @param {number} status */
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * Throws an ApiError for a non-2xx response, reading the server's JSON error body when there is one.
 * @param {Response} res
 * @returns {Promise<Response>}
 */
export const ensureOk = async (res) => {
  if (res.ok) return res;
  const body = await res.json().catch(() => undefined);
  const e = body?.error;
  throw new ApiError(e?.code ?? 'http', e?.message ?? `${res.status} ${res.statusText}`, res.status);
};

/** @param {string} path @returns {Promise<any>} */
const json = async (path) =>
  (await ensureOk(await fetch(path, authed({ headers: { accept: 'application/json' } })))).json();
/** @param {string} path @param {unknown} body @param {AbortSignal} [signal] */
const postJson = (path, body, signal) =>
  fetch(
    path,
    authed({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal }),
  );

/** `GET /health`: `{ ok, version }`. */
export const health = () => json('/health');

/** `GET /v1/stages`: the registered alternatives for every swappable stage, by pipeline kind. */
export const stages = () => json('/v1/stages');

/**
 * `GET /v1/settings`: the folders requests may name (`roots.images`, `roots.models`) and the server's default for
 * every field a request leaves out (`defaults.generate`, `defaults.train`, `defaults.pipelines`).
 */
export const settings = () => json('/v1/settings');

/** `GET /v1/runs`: every run the server knows, `[{ id, kind, status, step, of, … }]`. */
export const listRuns = () => json('/v1/runs');

/** `POST /v1/generate`: starts a generation; resolves to the streaming response (not yet read). */
export const startGenerate = (/** @type {unknown} */ request, /** @type {AbortSignal} */ signal) =>
  postJson('/v1/generate', request, signal);

/**
 * `POST /v1/train`: starts a training run. With uploaded files the request travels as multipart, the JSON in a
 * `request` field and each image as an `images` part; otherwise `request.images` names a server folder.
 * @param {Record<string, unknown>} request
 * @param {File[]} files
 * @param {AbortSignal} signal
 */
export const startTrain = (request, files, signal) => {
  if (!files?.length) return postJson('/v1/train', request, signal);
  const form = new FormData();
  const { images: _ignored, ...rest } = request;
  form.set('request', JSON.stringify(rest));
  for (const f of files) form.append('images', f, f.name);
  return fetch('/v1/train', authed({ method: 'POST', body: form, signal }));
};

/** `GET /v1/runs/:id/frames`: the run's record frames so far and its latest previews, then live frames. */
export const attachRun = (/** @type {string} */ id, /** @type {AbortSignal | undefined} */ signal = undefined) =>
  fetch(`/v1/runs/${encodeURIComponent(id)}/frames`, authed({ signal }));

/** `DELETE /v1/runs/:id`: asks the server to stop a run. */
export const cancelRun = async (/** @type {string} */ id) =>
  ensureOk(await fetch(`/v1/runs/${encodeURIComponent(id)}`, authed({ method: 'DELETE' })));

/** Where the learned embedding of a training run downloads from. */
export const embeddingUrl = (/** @type {string} */ id) => `/v1/runs/${encodeURIComponent(id)}/embedding`;

/**
 * Points a download link at a run's embedding. With a token a plain link cannot send it, so a click fetches the
 * file with the header and saves it from memory instead.
 * @param {HTMLAnchorElement} a
 * @param {string} id
 * @param {string} [name]
 */
export const linkEmbedding = (a, id, name = `${id}.safetensors`) => {
  Object.assign(a, { href: embeddingUrl(id), hidden: false, download: name });
  if (!token) return;
  a.onclick = async (event) => {
    event.preventDefault();
    const res = await ensureOk(await fetch(embeddingUrl(id), authed()));
    const url = URL.createObjectURL(await res.blob());
    const save = Object.assign(document.createElement('a'), { href: url, download: name });
    save.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
};
