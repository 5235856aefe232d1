/**
 * Pixels onto canvases: preview frames (PNG or raw RGBA), finished PNGs and raw latent tensors. Previews of
 * latents are tiny (one pixel per latent cell), so canvases keep their native size and CSS scales them up with
 * `image-rendering: pixelated`.
 */

/** Decodes PNG bytes off the main thread's critical path. */
export const pngBitmap = (/** @type {Uint8Array<ArrayBuffer>} */ bytes) =>
  createImageBitmap(new Blob([bytes], { type: 'image/png' }));

/** An object URL for PNG bytes, for <img> and download links. */
export const pngUrl = (/** @type {Uint8Array<ArrayBuffer>} */ bytes) =>
  URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));

/**
 * Resizes `canvas` to `width`×`height` and draws a preview frame (`format` 'png' or 'rgba') into it.
 * @param {HTMLCanvasElement} canvas
 * @param {{ width: number, height: number, format: string, data: Uint8Array<ArrayBuffer> }} frame
 */
export const drawPreview = async (canvas, frame) => {
  const { width, height } = frame;
  if (frame.format === 'rgba') {
    // Copy: the decoded bytes are a view into the decoder's chunk, which it reuses.
    const pixels = new Uint8ClampedArray(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength).slice();
    sizedContext(canvas, width, height).putImageData(new ImageData(pixels, width, height), 0, 0);
    return;
  }
  const bitmap = await pngBitmap(frame.data);
  sizedContext(canvas, bitmap.width, bitmap.height).drawImage(bitmap, 0, 0);
  bitmap.close();
};

/**
 * Resizes `canvas` (only when it differs: resizing clears it) and returns its 2D context.
 * @param {HTMLCanvasElement} canvas @param {number} width @param {number} height
 * @returns {CanvasRenderingContext2D}
 */
const sizedContext = (canvas, width, height) => {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gives no 2D canvas');
  return ctx;
};

// IEEE half → float, for latents a float16 model sends.
const halfToFloat = (/** @type {number} */ h) => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
};

/**
 * The float values of a wire tensor (`{dtype, dims, data}`, little-endian bytes).
 * @param {{ dtype: string, data: Uint8Array }} tensor
 * @returns {Float32Array | undefined}
 */
export const wireFloats = ({ dtype, data }) => {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (dtype === 'float32')
    return Float32Array.from({ length: data.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
  if (dtype === 'float16')
    return Float32Array.from({ length: data.byteLength / 2 }, (_, i) => halfToFloat(view.getUint16(i * 2, true)));
  return undefined;
};

/**
 * Draws a latent [1, C, H, W] as its channels side by side in grey, each stretched to its own min..max, so the
 * structure the sampler is building shows even where no RGB preview is sent.
 * @param {HTMLCanvasElement} canvas
 * @param {{ dtype: string, dims: number[], data: Uint8Array }} tensor
 */
export const drawLatent = (canvas, tensor) => {
  const values = wireFloats(tensor);
  const dims = tensor.dims.slice(-3);
  if (!values || dims.length !== 3) return;
  const [C, H, W] = dims;
  const ctx = sizedContext(canvas, W * C + (C - 1), H);
  const img = ctx.createImageData(canvas.width, H);
  for (let c = 0; c < C; c++) {
    const plane = values.subarray(c * H * W, (c + 1) * H * W);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of plane) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const g = (plane[y * W + x] - lo) * scale;
        img.data.set([g, g, g, 255], (y * canvas.width + c * (W + 1) + x) * 4);
      }
  }
  ctx.putImageData(img, 0, 0);
};
