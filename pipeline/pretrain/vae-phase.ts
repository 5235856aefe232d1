/**
 * Phase 1: the VAE alone, on fresh world samples every step (the world is unbounded, so it never sees a batch
 * twice), with the reparameterisation noise drawn from the seed — reconstruction + β·KL.
 */
import { createRng } from '../../common/numerics/rng.ts';
import type { Model } from '../../weights/onnx/proto.ts';
import type { Session } from '../../weights/session.ts';
import { tensor } from '../../common/tensor.ts';
import { initialWeights } from './model-weights.ts';
import { defaultAdamW, ParamSet } from './param-set.ts';
import type { PretrainRecipe } from './pretrain-config.ts';
import { trainLoop } from './train-loop.ts';
import { buildVaeLossGraph, vaeLossIO, type LossGraph } from './vae-loss-graph.ts';
import { worldItems } from './world-data.ts';

const LOGVAR_INIT = -6;

/**
 * Per-pixel loss weights 1 + λ·mask, scaled to mean 1 over the batch (so λ moves emphasis, not the step size).
 *
 * @example
 * pixelWeights(new Float32Array([1, 0, 0, 0]), 3); // [2.857…, 0.714…, 0.714…, 0.714…]
 */
export const pixelWeights = (mask: Float32Array, lambda: number): Float32Array => {
  const w = mask.map((m) => 1 + lambda * m);
  const mean = w.reduce((a, v) => a + v, 0) / w.length;
  return w.map((v) => v / mean);
};

/** What every phase needs: the recipe, a way to open graphs, and optionally a checkpoint to resume from. */
export interface PhaseSetup {
  recipe: PretrainRecipe;
  /** Opens a graph (the adapter's `openGraph`, or a test double). */
  open(model: Model): Promise<Session>;
  /** A checkpoint blob of this phase to resume from. */
  resume?: Uint8Array;
  checkpointEvery?: number;
  resolution?: number;
  /** Pixels per latent pixel and side (8 unless told). */
  scale?: number;
}

/** A prepared phase: its graph, its weights (live), and the step events to drive. */
export interface PreparedPhase {
  graph: LossGraph;
  params: ParamSet;
  session: Session;
  events: ReturnType<typeof trainLoop>;
}

/**
 * Builds the VAE loss graph and its weights, and the loop that trains them; `decoderOnly` trains the decoder
 * alone (phase 3: pass the trained encoder and decoder).
 *
 * @example
 * const vae = await prepareVae(encoder, decoder, { recipe: defaultRecipe, open });
 * for await (const e of vae.events) report(e);
 */
export const prepareVae = async (
  encoder: Model,
  decoder: Model,
  s: PhaseSetup,
  decoderOnly = false,
): Promise<PreparedPhase> => {
  const { recipe } = s;
  const size = s.resolution ?? 64;
  const phase = decoderOnly ? recipe.decoder : recipe.vae;
  const { batch } = phase;
  const beta = recipe.vae.beta;
  const scale = s.scale ?? 8;
  const objectWeight = recipe.vae.objectWeight ?? 0;
  const graph = buildVaeLossGraph(encoder, decoder, {
    batch,
    resolution: size,
    latentChannels: 4,
    scale,
    beta,
    decoderOnly,
    weighted: objectWeight > 0,
  });
  const params = new ParamSet(
    initialWeights(graph, { vae_encoder: { model: encoder }, vae_decoder: { model: decoder } }),
  );
  // Start the posterior narrow (log σ² ≈ LOGVAR_INIT): at the builder's log σ² ≈ 0 the sampling noise (σ ≈ 1)
  // drowns the small initial means and the decoder learns little but the average colour for hundreds of steps.
  if (!decoderOnly) params.value('vae_encoder/quant_conv.bias').fill(LOGVAR_INIT, 4);
  if (s.resume) params.restore(s.resume);
  const session = await s.open(graph.model);
  const h = size / scale;
  const batchAt = (step: number) => {
    // Items after the diffusion dataset's, so the VAE also generalises to the scenes it later encodes; the
    // decoder phase reads items after the joint phase's.
    const first = recipe.datasetSize + (decoderOnly ? recipe.vae.steps * recipe.vae.batch : 0);
    const { pixels, objectMask } = worldItems(recipe.seed, first + step * batch, batch, size);
    const noise = createRng(recipe.seed)
      .fork(`${decoderOnly ? 'decoder' : 'vae'}-noise:${step}`)
      .fillNormal(new Float32Array(batch * 4 * h * h));
    const feeds = {
      [vaeLossIO.images]: tensor('float32', [batch, 3, size, size], pixels),
      [vaeLossIO.noise]: tensor('float32', [batch, 4, h, h], noise),
    };
    return objectWeight > 0
      ? {
          ...feeds,
          [vaeLossIO.weight]: tensor('float32', [batch, 1, size, size], pixelWeights(objectMask, objectWeight)),
        }
      : feeds;
  };
  const adamw = { ...defaultAdamW, clipNorm: recipe.clipNorm, weightDecay: recipe.weightDecay };
  const events = trainLoop({
    phase: decoderOnly ? 'decoder' : 'vae',
    session,
    params,
    recipe: phase,
    adamw,
    batchAt,
    terms: [vaeLossIO.rec, vaeLossIO.kl],
    checkpointEvery: s.checkpointEvery,
  });
  return { graph, params, session, events };
};
