/**
 * Embedding files from disk into an opened model, for `generate --embeddings` and the server. The injected text
 * encoder does not depend on the embeddings, so it is built once per opened model and shared by every request.
 */
import { limits } from '../common/limits.ts';
import { writeFileAtomic } from './fs.ts';
import { readRegularFile } from './safe-files.ts';
import { ortSessionFactory } from './ort-session.ts';
import { readEmbedding } from '../weights/embeddings/embedding-file.ts';
import {
  prepareTextEncoder,
  withEmbeddings,
  type PreparedTextEncoder,
  type TextEncoderComponent,
} from '../weights/embeddings/with-embeddings.ts';
import type { SdModel } from '../weights/model-folder.ts';
import { preparePPlusUnet, type PPlusUnet } from '../weights/embeddings/with-p-plus-embeddings.ts';

const prepared = new WeakMap<SdModel, Map<TextEncoderComponent, Promise<PreparedTextEncoder>>>();
const pPlusUnets = new WeakMap<SdModel, Promise<PPlusUnet>>();

// A rewritten model with external data is written beside the original so its relative paths resolve.
const besideOriginal = (model: SdModel) => ({
  async writeModel(rel: string, bytes: Uint8Array) {
    const path = model.files.path(rel);
    writeFileAtomic(path, bytes);
    return path;
  },
});

/** The UNet rewritten for P+ files, built once per opened model. */
const pPlusUnetOf = (model: SdModel): Promise<PPlusUnet> => {
  let p = pPlusUnets.get(model);
  if (!p) {
    p = preparePPlusUnet(model, ortSessionFactory, besideOriginal(model));
    p.catch(() => pPlusUnets.delete(model));
    pPlusUnets.set(model, p);
  }
  return p;
};

const encoderOf = (model: SdModel, component: TextEncoderComponent = 'text_encoder'): Promise<PreparedTextEncoder> => {
  let byComponent = prepared.get(model);
  if (!byComponent) prepared.set(model, (byComponent = new Map()));
  let p = byComponent.get(component);
  if (!p) {
    const options = {
      // A text encoder with external data is rewritten beside the original so its relative paths resolve.
      async writeModel(rel: string, bytes: Uint8Array) {
        const path = model.files.path(rel);
        writeFileAtomic(path, bytes);
        return path;
      },
    };
    p = prepareTextEncoder(model, ortSessionFactory, options, component);
    p.catch(() => byComponent.delete(component));
    byComponent.set(component, p);
  }
  return p;
};

/**
 * Reads embedding files (safetensors: diffusers, kohya, A1111 or SDXL's clip_l/clip_g layout) and returns a
 * model that knows their tokens. The base model is left as it was.
 * @example
 * const m = await loadEmbeddingsInto(await openModel('tiny'), ['learned_embeds.safetensors']);
 */
export const loadEmbeddingsInto = async (model: SdModel, files: string[]): Promise<SdModel> => {
  const loaded = [];
  for (const [i, f] of files.entries()) {
    const bytes = await readRegularFile(f, limits.embeddingFileBytes, `embeddings[${i}]`);
    loaded.push({ ...readEmbedding(bytes, { fileName: f }), fileName: f });
  }
  // SDXL files load into both text encoders; SD1/SD2 ones into the one.
  const encoder2 = model.info.sdxl ? encoderOf(model, 'text_encoder_2') : undefined;
  const unet = loaded.some((e) => e.perLayer) ? pPlusUnetOf(model) : undefined;
  return withEmbeddings(model, loaded, ortSessionFactory, { encoder: encoderOf(model), encoder2, unet });
};
