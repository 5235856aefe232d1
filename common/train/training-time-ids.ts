/**
 * SDXL's micro-conditioning for a training image, as SDXL's trainers compute it (diffusers'
 * train_text_to_image_sdxl.py / textual_inversion_sdxl.py, kohya's sdxl_train): `original_size` is the image's
 * (height, width) as loaded, before any resizing or cropping; `crops_coords_top_left` is the (top, left) corner
 * of the crop taken from the resized image; `target_size` is the training resolution. Our training crop is
 * `prepareImagePixels`' center crop: resize so the shorter side is R (`resizeShorter`), then the R×R window at
 * ⌊(W′ − R)/2⌋, ⌊(H′ − R)/2⌋ (`centerCrop`). The mirrored sample is the mirror of that crop, which in the mirrored
 * resized image starts at W′ − R − left. (diffusers' train_text_to_image_sdxl.py writes `x1 = image.width − x1`
 * after cropping, when image.width is already R: R − left, the corner of no crop; we give the corner of the crop
 * the UNet actually sees, as the issue asks.)
 */

/** The six time ids [orig h, orig w, top, left, target h, target w] of an image and of its mirror. */
export const trainingTimeIds = (
  image: { readonly width: number; readonly height: number },
  resolution: number,
): [number[], number[]] => {
  const k = resolution / Math.min(image.width, image.height);
  // resizeShorter's rounding, then centerCrop's floor.
  const [w, h] = [Math.max(1, Math.round(image.width * k)), Math.max(1, Math.round(image.height * k))];
  const [left, top] = [Math.floor((w - resolution) / 2), Math.floor((h - resolution) / 2)];
  const row = (l: number) => [image.height, image.width, top, l, resolution, resolution];
  return [row(left), row(w - resolution - left)];
};
