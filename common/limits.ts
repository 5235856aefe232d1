/**
 * Every size limit on input the project did not make itself, in one place: a request body, an image, an upload, a
 * file named in a request. Each is checked before the bytes are read or the pixels allocated.
 */
export const limits = {
  /** The largest image side a request may ask for (SDXL's 1024 doubled); each model allows less. */
  imageSide: 2048,
  /**
   * How long a generation whose every reader left (a reloaded page, a client that hung up) waits for one to
   * re-attach before it is cancelled: a page reload takes about a second, a slow one a few.
   */
  reattachGraceMs: 5000,
  /** All input frames of one pipeline run sent to a queue (`serve --queue`): they wait in Redis, in memory. */
  queuedPipelineInputBytes: 256 * 2 ** 20,
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
  /**
   * Characters of a token an embedding file names in its metadata (an SDXL pair's `pseudoword.token`): real ones
   * are a few (`<cat-toy>`); the cap keeps a hostile header's megabyte string out of the tokenizer and messages.
   * A longer one is ignored, and the file is named after its file name.
   */
  embeddingTokenChars: 256,
  /** An embedding file named in a request: real ones are kilobytes (A1111 `.pt` files with optimizer state, a few MB). */
  embeddingFileBytes: 64 * 2 ** 20,
  /** A LoRA file named in a request: SD1 UNet LoRAs are a few MB at rank 4, about 150 MB at rank 128. */
  loraFileBytes: 512 * 2 ** 20,
  /** One training image file read from a folder. */
  imageFileBytes: 64 * 2 ** 20,
  /** A small model-folder file (configs, tokenizer vocabularies and merges). */
  modelTextBytes: 64 * 2 ** 20,
  /** A model graph file; protobuf itself caps one message at 2 GiB (bigger weights go to external data). */
  modelGraphBytes: 2 ** 31,
  /**
   * Entries in one zip archive (a torch.save `.pt`): torch writes one per storage plus a few bookkeeping files, so
   * an embedding has under ten; the cap keeps the overlap check and the name map small for a hostile directory.
   */
  zipEntries: 10_000,
  /**
   * Bytes of one pickled integer (LONG1/LONG4). torch.save pickles sizes, strides, offsets and element counts,
   * all int64; a longer integer is hostile (a 1 MB LONG4 takes BigInt arithmetic minutes).
   */
  pickleIntBytes: 8,
  /**
   * Values one pickle may build, counting every element a container is filled with (a dict copied by BUILD or
   * OrderedDict counts each entry again). An embedding's pickle builds under a hundred; the cap keeps the
   * unpickler's work linear, since a memoised container can otherwise be copied once per 3-byte opcode.
   */
  pickleObjects: 100_000,
  /** Memo slots of one pickle (BINPUT/LONG_BINPUT/MEMOIZE): one per object at most, so the same cap. */
  pickleMemoEntries: 100_000,
  /**
   * Bytes of all tensors one torch.save file may rebuild: 64 MiB is 16 M float32, far past an embedding (75
   * vectors × 1024 is 300 KiB). Tensors may share one storage, so without this a small file could ask for a
   * large storage many times over.
   */
  torchTensorBytes: 64 * 2 ** 20,
  /** Dimensions of one torch tensor: an embedding has 1 or 2, and each costs work for every element read. */
  tensorDims: 8,
  /**
   * Nesting of ONNX subgraphs (If/Loop/Scan bodies in attributes). Real models nest a few levels; the reader
   * recurses per level, so a hostile file nesting a graph every 6 bytes would otherwise exhaust the stack.
   */
  onnxGraphDepth: 64,
  /** The first object of a msgpack request body, the pipeline description: as large as a JSON body may be. */
  msgpackDescriptionBytes: 2 ** 20,
  /**
   * Each later object of a msgpack request body, an input frame (an image file or a latent): as large as a whole
   * multipart upload (`uploadBytes`), since one image may be the whole upload.
   */
  msgpackFrameBytes: 50 * 2 ** 20,
  /**
   * A whole msgpack request body, summed over its frames. The body is read a frame at a time, never held whole,
   * so this bounds one request's work rather than memory: 1000 training images (`trainFiles`) of 4 MiB fit.
   */
  msgpackBodyBytes: 4 * 2 ** 30,
  /** Nesting of arrays and maps in one msgpack object: a frame nests three deep, so 32 is no frame. */
  msgpackDepth: 32,
  /**
   * Elements of one msgpack array or map: a frame's lists are short (a tensor's dims, a summary's fields), so a
   * header claiming more is refused before the decoder sizes an array for it.
   */
  msgpackContainerLength: 2 ** 16,
  /** Bytes of one msgpack string or ext value: names, prompts and messages, never pixels (those are bin). */
  msgpackStringBytes: 2 ** 20,
} as const;
