/**
 * The body of `POST /v1/train`, read and checked: JSON (a TrainRequest whose `images` is a folder inside the
 * image roots), or multipart/form-data (a `request` field holding that JSON without `images`, and one or more
 * `images` file parts, saved to a fresh folder). Either way `out` must lie inside the output root; it defaults to
 * `<outRoot>/<runId>`. Everything is validated before any upload is written.
 */
import { PipelineError } from '../../common/errors.ts';
import { parseTrainRequest, type TrainRequest } from '../../common/train/train-request.ts';
import { trainPipelineDescription, type TrainPipelineDescription } from '../../common/train/train-pipeline.ts';
import { resolveInRoots } from './path-policy.ts';
import { formBody, isMultipart, jsonBody, parseJson } from './read-body.ts';
import { parsePipeline, splitPipeline } from './split-pipeline.ts';
import { acceptCatalogUse } from './stage-catalog.ts';
import { limits } from '../../common/limits.ts';

/** One uploaded file: the name the client gave (untrusted) and its bytes. */
export interface UploadedFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Where uploads go: an adapter saves the files (names sanitised) into a fresh folder and returns its path. */
export interface UploadStore {
  save(files: UploadedFile[]): Promise<string>;
}

/** What the train body reader needs from the server's configuration. */
export interface TrainBodyConfig {
  imageRoots: string[];
  outRoot: string;
  maxUploadBytes: number;
  uploads?: UploadStore;
  realPath?: (p: string) => string;
}

/** A checked training request and its optional pipeline description. */
export interface TrainBody {
  request: TrainRequest;
  pipeline?: TrainPipelineDescription;
}

const outOf = (body: Record<string, unknown>, request: TrainRequest, runId: string, cfg: TrainBodyConfig) =>
  resolveInRoots('out' in body ? request.out : runId, { field: 'out', roots: [cfg.outRoot], realPath: cfg.realPath });

const fromJson = async (req: Request, runId: string, cfg: TrainBodyConfig): Promise<TrainBody> => {
  const { body, pipeline } = splitPipeline(await jsonBody(req, limits.jsonBodyBytes));
  const request = parseTrainRequest(body);
  const description = parsePipeline(trainPipelineDescription, acceptCatalogUse('train', pipeline));
  const images = resolveInRoots(request.images, { field: 'images', roots: cfg.imageRoots, realPath: cfg.realPath });
  return { request: { ...request, images, out: outOf(body, request, runId, cfg) }, pipeline: description };
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
  const out = outOf(body, request, runId, cfg);
  const saved = await Promise.all(
    files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })),
  );
  return { request: { ...request, images: await uploads.save(saved), out }, pipeline: description };
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
