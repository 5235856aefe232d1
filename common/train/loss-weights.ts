/**
 * Per-sample loss weights. min-SNR-γ (Hang et al. 2023): with SNR(t) = ᾱ_t/(1−ᾱ_t),
 *   ε-prediction: w = min(SNR, γ)/SNR        v-prediction: w = min(SNR, γ)/(SNR + 1)
 * Uniform weighting is w = 1.
 */
export const minSnrWeight = (alphaBar: number, gamma: number, prediction: 'epsilon' | 'v_prediction'): number => {
  const snr = alphaBar / (1 - alphaBar);
  return Math.min(snr, gamma) / (prediction === 'v_prediction' ? snr + 1 : snr);
};
