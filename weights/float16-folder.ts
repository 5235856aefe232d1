/**
 * A model folder (Optimum layout) converted to float16, component by component (`toFloat16`), with its configs,
 * tokenizers and scheduler copied as they are — the folder an Optimum `--dtype fp16` export would be, made from a
 * float32 one without torch (Debian's torch 1.13 cannot run every op in half on the CPU).
 */
import { PipelineError } from '../common/errors.ts';
import type { ModelFiles } from './model-files.ts';
import { decodeModel, encodeModel } from './onnx/proto.ts';
import { toFloat16 } from './onnx/to-float16.ts';

const components = ['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder'] as const;

/** The small files a folder may carry beside its graphs, copied byte for byte. */
const copied = [
  'model_index.json',
  'pseudoword.json',
  'scheduler/scheduler_config.json',
  ...['tokenizer', 'tokenizer_2'].flatMap((t) =>
    ['vocab.json', 'merges.txt', 'tokenizer.json', 'special_tokens_map.json', 'tokenizer_config.json'].map(
      (f) => `${t}/${f}`,
    ),
  ),
  ...components.map((c) => `${c}/config.json`),
];

/** The float16 folder's files (relative path → bytes); external data goes to `<component>/model.onnx_data`. */
export const float16Folder = async (files: ModelFiles): Promise<Record<string, Uint8Array>> => {
  const out: Record<string, Uint8Array> = {};
  for (const rel of copied) {
    const b = (await files.exists(rel)) ? await files.readBytes(rel) : undefined;
    if (b) out[rel] = b;
  }
  if (!out['model_index.json'])
    throw new PipelineError('bad_model', `'${files.root}' has no model_index.json (not an Optimum folder)`);
  for (const c of components) {
    const bytes = await files.readBytes(`${c}/model.onnx`);
    if (!bytes) continue;
    const { model, externalData } = toFloat16(decodeModel(bytes), {
      external: (location, offset, length) => files.readRange(`${c}/${location}`, offset, length),
    });
    out[`${c}/model.onnx`] = encodeModel(model);
    if (externalData) out[`${c}/model.onnx_data`] = externalData;
  }
  return out;
};
