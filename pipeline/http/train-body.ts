/**
 * The body of `POST /v1/train`, read and checked: JSON (a TrainRequest whose `images` is a folder inside the
 * image roots), or multipart/form-data (a `request` field holding that JSON without `images`, and one or more
 * `images` file parts, saved to a fresh folder). Either way `out` must lie inside the output root; it defaults to
 * `<outRoot>/<runId>`. Everything is validated before any upload is written.
 */
import { PipelineError } from '../../common/errors.ts';
import { parseTrainRequest, type TrainRequest } from '../../common/train/train-request.ts';
import { trainPipelineDescription, type TrainPipelineDescription } from '../../common/train/train-pipeline.ts';
import { decodeImage } from '../../common/image/decode-image.ts';
import type { PathPolicy } from './path-policy.ts';
import { formBody, isMultipart, jsonBody, parseJson } from './read-body.ts';
import { parsePipeline, splitPipeline } from './split-pipeline.ts';
import { acceptCatalogUse } from './stage-catalog.ts';
import { limits } from '../../common/limits.ts';

/** One uploaded file: the name the client gave (untrusted) and its bytes. */
export interface UploadedFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/**
 * Where uploads go: an adapter saves a run's files (names sanitised) into a fresh folder outside every root and
 * returns its path; `remove` deletes it when the run ends.
 */
export interface UploadStore {
  save(runId: string, files: UploadedFile[]): Promise<string>;
  remove(runId: string): Promise<void>;
}

/** What the train body reader needs from the server's configuration. */
export interface TrainBodyConfig {
  paths: PathPolicy;
  maxUploadBytes: number;
  uploads?: UploadStore;
}

/** A checked training request and its optional pipeline description; `uploaded` counts files saved for it. */
export interface TrainBody {
  request: TrainRequest;
  pipeline?: TrainPipelineDescription;
  uploaded?: number;
}

const outOf = (body: Record<string, unknown>, request: TrainRequest, runId: string, cfg: TrainBodyConfig) =>
  cfg.paths.out('out' in body ? request.out : runId);

const fromJson = async (req: Request, runId: string, cfg: TrainBodyConfig): Promise<TrainBody> => {
  const { body, pipeline } = splitPipeline(await jsonBody(req, limits.jsonBodyBytes));
  const request = parseTrainRequest(body);
  const description = parsePipeline(trainPipelineDescription, acceptCatalogUse('train', pipeline));
  const images = await cfg.paths.images(request.images);
  const model = await cfg.paths.model(request.model);
  return { request: { ...request, model, images, out: await outOf(body, request, runId, cfg) }, pipeline: description };
};

const fromForm = async (
  req: Request,
  runId: string,
  cfg: TrainBodyConfig,
  uploads: UploadStore,
): Promise<TrainBody> => {
  const form = await formBody(req, cfg.maxUploadBytes);
  const field = form.get('request');
  if (field === null)
    throw new PipelineError('bad_request', 'request: is required (the TrainRequest as JSON)', { field: 'request' });
  const { body, pipeline } = splitPipeline(
    parseJson(typeof field === 'string' ? field : await field.text(), 'request'),
  );
  if ('images' in body)
    throw new PipelineError('bad_request', 'images: give a folder path or uploaded files, not both', {
      field: 'images',
    });
  const files = form.getAll('images').filter((v): v is File => typeof v !== 'string');
  if (!files.length)
    throw new PipelineError('bad_request', "images: upload at least one file as an 'images' part", { field: 'images' });
  if (files.length > limits.trainFiles)
    throw new PipelineError('too_large', `images: at most ${limits.trainFiles} files per upload`, { field: 'images' });
  // A placeholder folder lets the schema check every other field before anything touches the disk.
  const request = parseTrainRequest({ ...body, images: 'upload' });
  const description = parsePipeline(trainPipelineDescription, acceptCatalogUse('train', pipeline));
  const out = await outOf(body, request, runId, cfg);
  const model = await cfg.paths.model(request.model);
  const saved = await Promise.all(
    files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })),
  );
  // Every file must be an image this server can decode before anything is kept: a bad upload is a 400 now, not
  // an error frame after a 200.
  for (const [i, f] of saved.entries()) {
    if (/\.txt$/i.test(f.name)) continue; // a caption beside its image
    try {
      await decodeImage(f.bytes, f.name);
    } catch (e) {
      const why = e instanceof PipelineError ? e.message : 'it cannot be decoded';
      throw new PipelineError('bad_image', `images[${i}]: ${why}`, { field: `images[${i}]` });
    }
  }
  const images = await uploads.save(runId, saved);
  return { request: { ...request, model, images, out }, pipeline: description, uploaded: saved.length };
};

/**
 * Reads and checks a training request body for run `runId`.
 * @throws PipelineError: 'bad_request' (400) naming the field, 'forbidden' (403) for a path outside the roots or
 * an upload to a server without an upload store, 'too_large' (413) over `maxUploadBytes`.
 * @example const { request, pipeline } = await readTrainBody(c.req.raw, id, { imageRoots: ['/data'], outRoot: '/runs',
 * maxUploadBytes: 50 * 2 ** 20 });
 */
export const readTrainBody = async (req: Request, runId: string, cfg: TrainBodyConfig): Promise<TrainBody> => {
  if (!isMultipart(req)) return fromJson(req, runId, cfg);
  if (!cfg.uploads)
    throw new PipelineError('forbidden', 'images: this server does not accept uploads', { field: 'images' });
  return fromForm(req, runId, cfg, cfg.uploads);
};
