/**
 * The embedded default model `tiny` and the SD-architecture builders it is made of.
 *
 * @example
 * import { buildTinyModel, buildUnet, sd15UnetConfig } from './weights/tiny/index.ts';
 * const files = buildTinyModel({ seed: 0 });              // the whole Optimum-layout folder
 * const big = buildUnet(sd15UnetConfig);                   // an 859.5 M-parameter random UNet, data on demand
 */
export { buildTinyModel, tinyModelVersion, type TinyModelOptions } from './build-tiny-model.ts';
export { buildTinyXlModel, tinyXlModelVersion, tinyXlUnetConfig } from './build-tiny-xl-model.ts';
export { buildModel, type BuildOptions, type BuiltModel } from './built-model.ts';
export { buildUnet } from './unet.ts';
export { headsAt, sd15UnetConfig, tinyUnetConfig, unetConfigJson, type UnetConfig } from './unet-config.ts';
export { buildTextEncoder, tinyTextEncoderConfig, type TextEncoderConfig } from './text-encoder.ts';
export { buildVaeDecoder, buildVaeEncoder, tinyVaeConfig, vaeConfigJson, type VaeConfig } from './vae.ts';
export { collectExternal, ParamStore, type ExternalData, type Init } from './params.ts';
