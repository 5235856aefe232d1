/**
 * What the core needs from a model folder: read its small files, hand onnxruntime a path, read external-data
 * ranges. The disk implementation is `adapters/fs.ts`; tests can use an in-memory one.
 */
export interface ModelFiles {
  /** Where the folder is, for messages. */
  readonly root: string;
  /** A path onnxruntime can open (external data resolves relative to it). */
  path(rel: string): string;
  exists(rel: string): Promise<boolean>;
  readText(rel: string): Promise<string | undefined>;
  readBytes(rel: string): Promise<Uint8Array | undefined>;
  readRange(rel: string, offset: number, length: number): Uint8Array;
}
