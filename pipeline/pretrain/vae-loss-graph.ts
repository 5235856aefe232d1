/**
 * The VAE pretraining step as one ONNX model (Kingma & Welling's reparameterised ELBO, with SD's small KL weight):
 *
 *   images [B,3,H,W] → vae_encoder → moments → (mean, logvar)        logvar clipped to [−30, 20] as diffusers
 *   z = mean + exp(logvar/2) · noise                                  noise [B,C,h,w] is fed, so runs reproduce
 *   recon = vae_decoder(z)
 *   loss = mean w·(recon − images)² + β · mean ½(mean² + e^logvar − 1 − logvar)
 *
 * where w [B,1,H,W] is a fed per-pixel weight (mean 1) when `weighted`, else 1.
 *
 * differentiated with our autodiff with respect to every weight of both halves. Outputs: `loss`, `rec`, `kl`,
 * `recon`, and `<prefixed weight>_grad` for each weight.
 */
import { differentiate } from '../../weights/autodiff/differentiate.ts';
import type { GradOptions } from '../../weights/autodiff/grad-emitter.ts';
import { GraphBuilder } from '../../weights/onnx/builder.ts';
import type { Model } from '../../weights/onnx/proto.ts';
import { mergeParts, modelOf, pruneDead, scalarOut, trainableNames, type Part } from './compose.ts';

export const vaeLossIO = {
  images: 'images',
  noise: 'noise',
  weight: 'pixel_weight',
  loss: 'loss',
  rec: 'rec',
  kl: 'kl',
  recon: 'recon',
} as const;

export interface VaeLossOptions {
  batch: number;
  resolution: number;
  latentChannels: number;
  /** Pixels per latent pixel and side (8 unless told; `vaeScale` of the VAE's config). */
  scale?: number;
  /** KL weight against the per-element mean reconstruction error. */
  beta: number;
  /**
   * Weight the squared error per pixel by a fed `pixel_weight` [B,1,H,W] (mean 1): the world's scenes weight their
   * object up, the few pixels MSE would otherwise blur into the background (what LPIPS does for SD's VAE).
   */
  weighted?: boolean;
  /** Train only the decoder (the encoder's weights stay as the model has them); default both halves. */
  decoderOnly?: boolean;
  /**
   * Skip the backward pass. The weights then stay initializers with their built values (feeds for them are
   * ignored by onnxruntime), so this is for measuring, not for evaluating trained weights.
   */
  forwardOnly?: boolean;
  /** Choices between equivalent gradient forms (measuring; the defaults are the fast ones). */
  grad?: GradOptions;
}

/** A pretraining step graph and its weights: the inputs to feed them through, each with a `<name>_grad` output. */
export interface LossGraph {
  model: Model;
  /** Prefixed weight name → [component, original initializer name]. */
  weights: Map<string, [string, string]>;
}

/**
 * The trainable weights of merged parts under their prefixed names, mapped back to (component, original name).
 *
 * @example
 * prefixedWeights(parts).get('unet/conv_in.weight'); // ['unet', 'conv_in.weight']
 */
export const prefixedWeights = (parts: Part[]): Map<string, [string, string]> =>
  new Map(
    parts.flatMap((p) =>
      trainableNames(p.model).map((n) => [`${p.prefix}${n}`, [p.prefix.slice(0, -1), n]] as [string, [string, string]]),
    ),
  );

/**
 * Builds (and differentiates) the VAE loss graph from the two halves as `buildVaeEncoder/Decoder` write them.
 *
 * @example
 * const { model, weights } = buildVaeLossGraph(enc, dec, { batch: 16, resolution: 64, latentChannels: 4, beta: 1e-3 });
 */
export const buildVaeLossGraph = (encoder: Model, decoder: Model, o: VaeLossOptions): LossGraph => {
  const h = o.resolution / (o.scale ?? 8);
  const c = o.latentChannels;
  const parts: Part[] = [
    { model: encoder, prefix: 'vae_encoder/', wire: { sample: vaeLossIO.images, latent_parameters: 'moments' } },
    { model: decoder, prefix: 'vae_decoder/', wire: { latent_sample: 'z', sample: vaeLossIO.recon } },
  ];
  const g = mergeParts(parts, { [vaeLossIO.images]: [o.batch, 3, o.resolution, o.resolution] }, ['z']);
  const b = new GraphBuilder(g);
  b.input(vaeLossIO.noise, 'float32', [o.batch, c, h, h]);
  const [mean, rawLogvar] = b.opN(
    'Split',
    ['moments', b.constI64([c, c], [2], 'loss/split')],
    2,
    { axis: 1 },
    { name: 'loss/split' },
  );
  const logvar = b.op(
    'Clip',
    [rawLogvar, b.constF(-30, [], 'loss/lo'), b.constF(20, [], 'loss/hi')],
    {},
    { name: 'loss/clip' },
  );
  const std = b.op(
    'Exp',
    [b.op('Mul', [logvar, b.constF(0.5, [], 'loss/half')], {}, { name: 'loss/half_logvar' })],
    {},
    { name: 'loss/std' },
  );
  b.op(
    'Add',
    [mean, b.op('Mul', [std, vaeLossIO.noise], {}, { name: 'loss/scaled_noise' })],
    {},
    { name: 'loss/z', outputs: ['z'] },
  );
  const diff = b.op('Sub', [vaeLossIO.recon, vaeLossIO.images], {}, { name: 'loss/diff' });
  let sq = b.op('Mul', [diff, diff], {}, { name: 'loss/sq' });
  if (o.weighted) {
    b.input(vaeLossIO.weight, 'float32', [o.batch, 1, o.resolution, o.resolution]);
    sq = b.op('Mul', [sq, vaeLossIO.weight], {}, { name: 'loss/weighted' });
  }
  b.op('ReduceMean', [sq], { keepdims: 0 }, { name: 'loss/rec', outputs: [vaeLossIO.rec] });
  // ½(μ² + σ² − 1 − log σ²) per latent element: the KL from N(μ, σ²) to N(0, 1).
  const var_ = b.op('Exp', [logvar], {}, { name: 'loss/var' });
  const klTerms = b.op(
    'Sub',
    [
      b.op('Add', [b.op('Mul', [mean, mean], {}, { name: 'loss/mean_sq' }), var_], {}, { name: 'loss/kl_add' }),
      b.op('Add', [logvar, b.constF(1, [], 'loss/one')], {}, { name: 'loss/kl_one' }),
    ],
    {},
    { name: 'loss/kl_terms' },
  );
  const kl = b.op(
    'Mul',
    [b.op('ReduceMean', [klTerms], { keepdims: 0 }, { name: 'loss/kl_mean' }), b.constF(0.5, [], 'loss/kl_half')],
    {},
    { name: 'loss/kl', outputs: [vaeLossIO.kl] },
  );
  b.op(
    'Add',
    [vaeLossIO.rec, b.op('Mul', [kl, b.constF(o.beta, [], 'loss/beta')], {}, { name: 'loss/beta_kl' })],
    {},
    { name: 'loss/total', outputs: [vaeLossIO.loss] },
  );
  g.outputs = [
    scalarOut(vaeLossIO.loss),
    scalarOut(vaeLossIO.rec),
    scalarOut(vaeLossIO.kl),
    { name: vaeLossIO.recon, type: { elemType: 1, shape: [o.batch, 3, o.resolution, o.resolution] }, unknown: [] },
  ];
  pruneDead(g);
  const weights = prefixedWeights(o.decoderOnly ? parts.slice(1) : parts);
  const model = modelOf(g, parts);
  return {
    model: o.forwardOnly ? model : differentiate(model, { ...o.grad, of: vaeLossIO.loss, wrt: [...weights.keys()] }),
    weights,
  };
};
