/** CLIP BPE tokenisation: the tokenizer, its folder loader and writer, and a small learner for own models. */
export {
  createClipTokenizer,
  type ClipTokenizer,
  type ClipTokenizerConfig,
  type Tokenized,
  type TokenizeOptions,
} from './clip-tokenizer.ts';
export { loadTokenizer, type ReadTokenizerFile } from './load-tokenizer.ts';
export { trainBpe, type LearnedBpe, type TrainBpeOptions } from './train-bpe.ts';
export { writeTokenizerFiles, type TokenizerData } from './write-tokenizer-files.ts';
export { readOpenaiBpe } from './read-openai-bpe.ts';
