/** A learned word as the embedding files hold it (embedding-file.ts reads and writes them; P+: p-plus-file.ts). */
export interface Embedding {
  token: string;
  vectors: Float32Array;
  count: number;
  dim: number;
  /** SDXL's second set: `count` vectors of width `clipG.dim` for text_encoder_2. */
  clipG?: { vectors: Float32Array; dim: number };
  /** training step it was saved at, when the file says */
  step?: number;
  /** P+: one set of `count` vectors per cross-attention layer (p-plus-file.ts); `vectors` is the first layer's. */
  perLayer?: PerLayerVectors;
}

/** The per-layer sets of a P+ embedding: `vectors` is [L·count·dim], layer-major in `layers` order. */
export interface PerLayerVectors {
  layers: string[];
  vectors: Float32Array;
}
