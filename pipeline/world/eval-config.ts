/** What `eval` runs (pipeline/world/eval.ts), apart from the functions it runs with. */
export interface EvalConfig {
  model: string;
  /** Concepts to evaluate: a name (its initializer and hand caption come from `concepts.ts` when known) and a folder of
   * images. */
  concepts: readonly { name: string; dir: string }[];
  /** Samples per prompt and method. */
  samples: number;
  /** Textual-inversion steps. */
  tiSteps: number;
  /** Vector counts to invert with, e.g. [1, 3]. */
  vectors: readonly number[];
  ddimSteps: number;
  guidance: number;
  lr: number;
  /** Train on the `.txt` captions beside the concept's images where there are (TrainRequest.captions). */
  captions?: boolean;
  /** Textual inversion's norm cap (TrainRequest.maxNormRatio); 0 or absent: none. */
  maxNormRatio?: number;
  seed: number;
  /** Repetitions of the protocol with disjoint seeds (1 unless told). */
  runs?: number;
  /** Folder for the embeddings (the adapter's path syntax; joined with '/'). */
  out: string;
  device: 'cpu' | 'cuda';
  /** Inversion methods to compare (eval-methods.ts): ['ti'] unless told. */
  methods?: readonly string[];
}
