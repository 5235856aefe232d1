/**
 * Opens a graph we built (a training step, an injected text encoder) whose initializers may live in the model
 * folder's external-data files. onnxruntime resolves external data relative to the model file and refuses paths
 * outside its folder and symlinks, so the graph is written into a cache folder beside hard links to those files
 * (a copy when the cache is on another filesystem), with each tensor's location rewritten to its link.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Model } from '../weights/onnx/proto.ts';
import { encodeModel } from '../weights/onnx/proto.ts';
import { relocateExternalTensorProto } from '../weights/onnx/tensor-proto.ts';
import type { Session, SessionOptions } from '../weights/session.ts';
import { ortSessionFactory } from './ort-session.ts';
import { cacheDir } from './project-paths.ts';

/** Maps an external initializer (its name and stored location) to the absolute path of its data file. */
export type ExternalSource = (initializer: string, location: string) => string;

const linkOrCopy = (from: string, to: string) => {
  if (existsSync(to)) return;
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, `${to}.tmp`);
    renameSync(`${to}.tmp`, to);
  }
};

/** Writes (once per distinct graph) and opens a graph; with no external data it loads from memory. */
export const openGraph = async (
  model: Model,
  source: ExternalSource,
  options: SessionOptions = {},
): Promise<Session> => {
  const external = model.graph.initializers.filter((t) => t.external);
  if (!external.length) return ortSessionFactory.create(encodeModel(model), options);
  const files = new Map<string, string>(); // absolute source → link name
  const initializers = model.graph.initializers.map((t) => {
    if (!t.external) return t;
    const location = t.external.find((e) => e.key === 'location')?.value ?? '';
    const from = source(t.name, location);
    let link = files.get(from);
    if (!link) files.set(from, (link = `data_${files.size}_${location.replace(/[^\w.-]/g, '_')}`));
    return relocateExternalTensorProto(t, link);
  });
  const bytes = encodeModel({ ...model, graph: { ...model.graph, initializers } });
  const dir = join(cacheDir(), 'graphs', createHash('sha256').update(bytes).digest('hex').slice(0, 16));
  mkdirSync(dir, { recursive: true });
  for (const [from, link] of files) linkOrCopy(from, join(dir, link));
  const path = join(dir, 'model.onnx');
  if (!existsSync(path)) {
    writeFileSync(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path);
  }
  return ortSessionFactory.create(path, options);
};
