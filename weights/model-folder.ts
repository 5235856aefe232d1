/**
 * Opens a Stable Diffusion folder in the Hugging Face Optimum ONNX layout (`model_index.json`, `text_encoder/`,
 * `unet/`, `vae_encoder/`, `vae_decoder/`, `tokenizer/`, `scheduler/`; SDXL adds `text_encoder_2/` and
 * `tokenizer_2/`). Sessions open lazily, once each: a generation never pays for the VAE encoder, and a folder
 * without one still generates.
 */
import { PipelineError } from '../common/errors.ts';
import { parseSchedulerConfig, type SchedulerConfig } from '../common/numerics/scheduler-config.ts';
import type { ModelFiles } from './model-files.ts';
import { familyFromHidden, pseudowordModelJson, type ModelInfo } from './model-info.ts';
import { decodeModel, type Model } from './onnx/proto.ts';
import { opCensus } from './onnx/op-census.ts';
import type { Device, Session, SessionFactory } from './session.ts';
import { loadTokenizer } from './tokenizer/load-tokenizer.ts';
import type { ClipTokenizer } from './tokenizer/clip-tokenizer.ts';
import { readSdxlInfo, sdxlSources } from './sdxl-info.ts';

export type Component = 'text_encoder' | 'text_encoder_2' | 'unet' | 'vae_encoder' | 'vae_decoder';

export interface SdModel {
  readonly files: ModelFiles;
  readonly scheduler: SchedulerConfig;
  readonly tokenizer: ClipTokenizer;
  /** SDXL's `tokenizer_2` (for text_encoder_2; its pad token differs); absent for single-encoder models. */
  readonly tokenizer2?: ClipTokenizer;
  readonly info: ModelInfo;
  readonly device: Device;
  /** Opens (once) and returns a component's session. */
  session(c: Component): Promise<Session>;
  has(c: Component): Promise<boolean>;
  release(): Promise<void>;
}

const required: Component[] = ['text_encoder', 'unet', 'vae_decoder'];

const json = async (files: ModelFiles, rel: string): Promise<any> => {
  const t = await files.readText(rel);
  if (t === undefined) return undefined;
  try {
    return JSON.parse(t);
  } catch (e) {
    throw new PipelineError('bad_model', `${files.root}/${rel} is not valid JSON: ${(e as Error).message}`);
  }
};

/** Opens a model folder; checks the layout and that no component needs an op onnxruntime's CPU build lacks. */
export const openModelFolder = async (
  files: ModelFiles,
  factory: SessionFactory,
  device: Device = 'cpu',
): Promise<SdModel> => {
  const missing = [];
  for (const c of required) if (!(await files.exists(`${c}/model.onnx`))) missing.push(`${c}/model.onnx`);
  if (missing.length)
    throw new PipelineError(
      'bad_model',
      `'${files.root}' is not a Stable Diffusion ONNX folder (Optimum layout): missing ${missing.join(', ')}`,
    );
  const tokenizer = await loadTokenizer((f) => files.readText(`tokenizer/${f}`));
  const scheduler = parseSchedulerConfig((await json(files, 'scheduler/scheduler_config.json')) ?? {});
  const graphs = new Map<Component, Model['graph']>();
  for (const c of [...required, 'text_encoder_2', 'vae_encoder'] as Component[]) {
    const bytes = await files.readBytes(`${c}/model.onnx`);
    if (!bytes) continue;
    const model = decodeModel(bytes);
    graphs.set(c, model.graph);
    const bad = opCensus(model).filter((o) => o.cpu === false);
    if (bad.length && device === 'cpu')
      throw new PipelineError(
        'unsupported_op',
        `${c}/model.onnx uses ${bad.map((o) => `${o.domain}.${o.opType} (node '${o.firstNode}')`).join(', ')}, which onnxruntime has no CPU kernel for (an Olive/GPU-optimised export?). Export the model without fused ops, or use --device cuda.`,
      );
  }
  const sessions = new Map<Component, Promise<Session>>();
  const session = (c: Component) => {
    let s = sessions.get(c);
    if (!s) {
      s = (async () => {
        if (!(await files.exists(`${c}/model.onnx`)))
          throw new PipelineError('bad_model', `'${files.root}' has no ${c}/model.onnx`);
        return factory.create(files.path(`${c}/model.onnx`), { device });
      })();
      sessions.set(c, s);
    }
    return s;
  };
  const sdxl = graphs.has('text_encoder_2');
  const tokenizer2 = sdxl ? await loadTokenizer2(files) : undefined;
  const info = await readInfo(files, await session('unet'), sdxl ? graphs : undefined);
  return {
    files,
    scheduler,
    tokenizer,
    ...(tokenizer2 ? { tokenizer2 } : {}),
    info,
    device,
    session,
    has: (c) => files.exists(`${c}/model.onnx`),
    async release() {
      for (const s of sessions.values()) await (await s).release();
      sessions.clear();
    },
  };
};

const headsOf = (v: unknown, level = 0): number | undefined => {
  const first = Array.isArray(v) ? v[level] : v;
  return typeof first === 'number' && Number.isInteger(first) && first > 0 ? first : undefined;
};

/** SDXL's second tokenizer; a folder with text_encoder_2 but no tokenizer_2 is refused (they are a pair). */
const loadTokenizer2 = async (files: ModelFiles): Promise<ClipTokenizer> => {
  if (!(await files.exists('tokenizer_2/vocab.json')) && !(await files.exists('tokenizer_2/tokenizer.json')))
    throw new PipelineError(
      'bad_model',
      `'${files.root}' has text_encoder_2 but no tokenizer_2 (vocab.json + merges.txt, or tokenizer.json)`,
    );
  return loadTokenizer((f) => files.readText(`tokenizer_2/${f}`));
};

/** The SDXL part of a folder's info: its configs, checked against the decoded graphs and the UNet session. */
const sdxlInfoOf = async (files: ModelFiles, unet: Session, graphs: Map<Component, Model['graph']>) =>
  readSdxlInfo(await sdxlSources(files, Object.fromEntries(graphs), unet.inputs));

const readInfo = async (
  files: ModelFiles,
  unet: Session,
  graphs?: Map<Component, Model['graph']>,
): Promise<ModelInfo> => {
  const sdxl = graphs ? await sdxlInfoOf(files, unet, graphs) : undefined;
  const own = pseudowordModelJson.parse((await json(files, 'pseudoword.json')) ?? {});
  const unetCfg = (await json(files, 'unet/config.json')) ?? {};
  const vaeCfg = (await json(files, 'vae_decoder/config.json')) ?? (await json(files, 'vae/config.json')) ?? {};
  const sample = unet.inputs.find((i) => i.name === 'sample');
  const ehs = unet.inputs.find((i) => i.name === 'encoder_hidden_states');
  const num = (d: unknown) => (typeof d === 'number' && d > 0 ? d : undefined);
  const hiddenSize = num(ehs?.shape[2]) ?? unetCfg.cross_attention_dim ?? 768;
  const latentChannels = own.latentChannels ?? num(sample?.shape[1]) ?? unetCfg.in_channels ?? 4;
  const vaeScale = own.vaeScale ?? 2 ** Math.max(0, (vaeCfg.block_out_channels?.length ?? 4) - 1);
  const latentSize = unetCfg.sample_size ?? num(sample?.shape[2]) ?? 64;
  // The first down level with cross-attention (SDXL's down_block_types start with a DownBlock2D).
  const types: unknown[] = Array.isArray(unetCfg.down_block_types) ? unetCfg.down_block_types : [];
  const level = Math.max(
    0,
    types.findIndex((t) => String(t).includes('CrossAttn')),
  );
  return {
    family: own.family !== 'unknown' ? own.family : sdxl ? 'sdxl' : familyFromHidden(hiddenSize),
    resolution: own.resolution ?? latentSize * vaeScale,
    latentChannels,
    vaeScale,
    hiddenSize,
    // diffusers' configs name the head count `attention_head_dim` (a legacy misnomer) unless they say it outright.
    attentionHeads: headsOf(unetCfg.num_attention_heads, level) ?? headsOf(unetCfg.attention_head_dim, level) ?? 8,
    ...(level > 0 ? { attentionLevel: level } : {}),
    scalingFactor: own.scalingFactor ?? vaeCfg.scaling_factor ?? 0.18215,
    previewFactors: own.previewFactors,
    previewBias: own.previewBias,
    ...(sdxl ? { sdxl } : {}),
  };
};
