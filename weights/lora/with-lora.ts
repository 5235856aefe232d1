/**
 * A model whose UNet has LoRA files merged in (merge-lora.ts), for `generate --lora file[:scale]`. The base model
 * is not changed; `open` opens the merged graph (the caller knows where the UNet's external data lives), and the
 * returned model's `release()` frees that session only.
 */
import { PipelineError } from '../../common/errors.ts';
import type { Component, SdModel } from '../model-folder.ts';
import { decodeModel, type Model } from '../onnx/proto.ts';
import type { Session } from '../session.ts';
import { readLora } from './lora-file.ts';
import { linearLayers } from './lora-layers.ts';
import { mergeLora } from './merge-lora.ts';

/** A LoRA file's bytes, its name (for messages) and the scale to merge it with. */
export interface LoraFile {
  bytes: Uint8Array;
  name: string;
  scale: number;
}

/**
 * @throws PipelineError('bad_embedding') naming the key of a file that does not fit this UNet.
 * @example
 * const m = await withLora(model, [{ bytes, name: 'lora.safetensors', scale: 1 }], (g) => openGraph(g, …));
 */
export const withLora = async (
  model: SdModel,
  files: readonly LoraFile[],
  open: (unet: Model) => Promise<Session>,
): Promise<SdModel> => {
  if (!files.length) return model;
  if (model.info.sdxl)
    throw new PipelineError('bad_request', 'lora: LoRA files are supported for SD1/SD2 models only so far');
  const bytes = await model.files.readBytes('unet/model.onnx');
  if (!bytes) throw new PipelineError('bad_model', `'${model.files.root}' has no unet/model.onnx`);
  const unet = decodeModel(bytes);
  const layers = linearLayers(unet);
  const loras = files.map((f) => ({ layers: readLora(f.bytes, layers, f.name).layers, scale: f.scale }));
  const merged = mergeLora(unet, loras, (loc, off, len) => model.files.readRange(`unet/${loc}`, off, len));
  const session = open(merged);
  return {
    ...model,
    session: (c: Component) => (c === 'unet' ? session : model.session(c)),
    release: async () => (await session).release(),
  };
};
