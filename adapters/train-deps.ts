/**
 * The training run's dependencies on this machine: models and graphs through onnxruntime-node, images and
 * checkpoints on disk (checkpoints written atomically).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { PipelineError } from '../common/errors.ts';
import type { TrainDeps } from '../pipeline/train/run-train.ts';
import type { ImageFile } from '../stages/encode-training-images.ts';
import { writeFileAtomic } from './fs.ts';
import { openGraph } from './graph-session.ts';
import { openModel } from './open-model.ts';
import { ortSessionFactory } from './ort-session.ts';
import type { Model } from '../weights/onnx/proto.ts';

/** Bytes of a graph's weights, inline and external. */
const weightBytes = (m: Model): number =>
  m.graph.initializers.reduce(
    (n, t) => n + (t.external ? Number(t.external.find((e) => e.key === 'length')?.value ?? 0) : t.bytes.byteLength),
    0,
  );

const skip = new Set(['.txt', '.json', '.md', '.csv', '.safetensors', '.pt', '.onnx']);

/** Every file in `dir` that is not a caption or metadata, sorted by name; `name.txt` beside an image is its caption. */
export const readImageFolder = async (dir: string): Promise<ImageFile[]> => {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new PipelineError('not_found', `images: '${dir}' is not a folder`);
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.') && statSync(join(dir, f)).isFile() && !skip.has(extname(f).toLowerCase()))
    .sort()
    .map((f) => {
      const caption = join(dir, `${basename(f, extname(f))}.txt`);
      const b = readFileSync(join(dir, f));
      return {
        name: f,
        bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
        ...(existsSync(caption) ? { caption: readFileSync(caption, 'utf8').trim() } : {}),
      };
    });
};

export const trainDeps = (log?: (m: string) => void): TrainDeps => ({
  openModel: (name, device) => openModel(name, device, log),
  factory: ortSessionFactory,
  // Big models train in low-memory mode (no pre-packed weight copies, no arena): their weights feed forward and
  // backward kernels alike, and a pre-packed copy of an SD UNet is gigabytes. Small ones keep the faster default.
  openGraph: (graph, source, device) => openGraph(graph, source, { device, lowMemory: weightBytes(graph) > 2 ** 30 }),
  readImages: readImageFolder,
  async writeFiles(dir, files) {
    return Object.entries(files).map(([name, bytes]) => {
      const p = resolve(dir, name);
      writeFileAtomic(p, bytes);
      return p;
    });
  },
  async readFile(path) {
    if (!existsSync(path)) return undefined;
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  textEncoderOptions: (model) => ({
    // A text encoder with external data is rewritten beside the original so its relative paths resolve.
    async writeModel(rel, bytes) {
      const p = model.files.path(rel);
      writeFileSync(`${p}.tmp`, bytes);
      renameSync(`${p}.tmp`, p);
      return p;
    },
  }),
});
