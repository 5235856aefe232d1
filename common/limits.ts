/**
 * Every size limit on input the project did not make itself, in one place: a request body, an image, an upload, a
 * file named in a request. Each is checked before the bytes are read or the pixels allocated.
 */
export const limits = {
  /** A JSON request body (generate, train, pretrain, a pipeline description). */
  jsonBodyBytes: 2 ** 20,
  /** Pixels of one decoded image, whatever its format: 64 Mpx, 256 MiB as RGBA. */
  imagePixels: 2 ** 26,
  /** Memory jpeg-js may use for one decode, in MiB (its own guard, beside the pixel count). */
  jpegDecodeMiB: 4096,
  /** A multipart upload of training images, unless the server is told otherwise (`serve --max-upload-mb`). */
  uploadBytes: 50 * 2 ** 20,
  /** Files in one training request. */
  trainFiles: 1000,
  /** A safetensors header; the reference reader's limit (a larger length means a corrupt or foreign file). */
  safetensorsHeaderBytes: 100_000_000,
} as const;
