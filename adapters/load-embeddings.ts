/**
 * Embedding files from disk into an opened model, for `generate --embeddings` and the server. The injected text
 * encoder does not depend on the embeddings, so it is built once per opened model and shared by every request.
 */
import { limits } from '../common/limits.ts';
import { writeFileAtomic } from './fs.ts';
import { readRegularFile } from './safe-files.ts';
import { ortSessionFactory } from './ort-session.ts';
import { readEmbedding } from '../weights/embeddings/embedding-file.ts';
import { prepareTextEncoder, withEmbeddings, type PreparedTextEncoder } from '../weights/embeddings/with-embeddings.ts';
import type { SdModel } from '../weights/model-folder.ts';

const prepared = new WeakMap<SdModel, Promise<PreparedTextEncoder>>();

const encoderOf = (model: SdModel): Promise<PreparedTextEncoder> => {
  let p = prepared.get(model);
  if (!p) {
    p = prepareTextEncoder(model, ortSessionFactory, {
      // A text encoder with external data is rewritten beside the original so its relative paths resolve.
      async writeModel(rel, bytes) {
        const path = model.files.path(rel);
        writeFileAtomic(path, bytes);
        return path;
      },
    });
    p.catch(() => prepared.delete(model));
    prepared.set(model, p);
  }
  return p;
};

/**
 * Reads embedding files (safetensors: diffusers, kohya or A1111 layout) and returns a model that knows their
 * tokens. The base model is left as it was.
 * @example
 * const m = await loadEmbeddingsInto(await openModel('tiny'), ['learned_embeds.safetensors']);
 */
export const loadEmbeddingsInto = async (model: SdModel, files: string[]): Promise<SdModel> => {
  const loaded = [];
  for (const [i, f] of files.entries()) {
    const bytes = await readRegularFile(f, limits.embeddingFileBytes, `embeddings[${i}]`);
    loaded.push({ ...readEmbedding(bytes, { fileName: f }), fileName: f });
  }
  return withEmbeddings(model, loaded, ortSessionFactory, { encoder: encoderOf(model) });
};
