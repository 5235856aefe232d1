/**
 * LoRA files from disk merged into an opened model's UNet, for `generate --lora file[:scale]`. The merged UNet is
 * opened beside links to the model folder's external data (graph-session.ts); the base model is left as it was.
 */
import { limits } from '../common/limits.ts';
import type { GenerateRequest } from '../common/requests.ts';
import type { SdModel } from '../weights/model-folder.ts';
import { withLora } from '../weights/lora/with-lora.ts';
import { openGraph } from './graph-session.ts';
import { readRegularFile } from './safe-files.ts';

/**
 * @example
 * const m = await loadLoraInto(await openModel('tiny'), [{ file: 'out/lora.safetensors', scale: 0.8 }]);
 */
export const loadLoraInto = async (model: SdModel, loras: GenerateRequest['lora']): Promise<SdModel> => {
  const files = [];
  for (const [i, l] of loras.entries())
    files.push({
      bytes: await readRegularFile(l.file, limits.loraFileBytes, `lora[${i}]`),
      name: l.file,
      scale: l.scale,
    });
  return withLora(model, files, (unet) =>
    openGraph(unet, (_, loc) => model.files.path(`unet/${loc}`), { device: model.device }),
  );
};

/** `file[:scale]` as the CLI takes it: a trailing `:number` is the scale (default 1). */
export const parseLoraFlag = (v: string): { file: string; scale: number } => {
  const m = /^(.*):(-?\d+(?:\.\d+)?(?:e-?\d+)?)$/i.exec(v);
  return m?.[1] ? { file: m[1], scale: Number(m[2]) } : { file: v, scale: 1 };
};
