import { concatMap, type OperatorFunction } from 'rxjs';
import { decodeImage } from '../common/image/decode-image.ts';
import { centerCrop, type RgbaImage } from '../common/image/image.ts';
import { resizeShorter } from '../common/image/resample.ts';
import type { ImageFileItem, ImageItem } from '../common/stream-items.ts';

/** How an incoming image file is turned into pixels. */
export interface DecodeInputImageOptions {
  /** Resize the shorter side to this and keep the centre square; null keeps the image as it is. */
  readonly resolution: number | null;
}

// Bicubic, as the textual-inversion training scripts resize.
const squareOf = (img: RgbaImage, r: number): RgbaImage => centerCrop(resizeShorter(img, r, 'bicubic'), r, r);

/**
 * PNG, JPEG or WebP bytes → an upright RGBA image (EXIF orientation applied, transparency over white), optionally
 * resized and centre-cropped to an R×R square, as the training images are.
 * @throws PipelineError('bad_image') naming the file when it cannot be decoded.
 * @example files$.pipe(decodeInputImage({ resolution: 512 }))
 */
export const decodeInputImage = (o: DecodeInputImageOptions): OperatorFunction<ImageFileItem, ImageItem> =>
  concatMap(async (f) => {
    const d = await decodeImage(f.bytes, f.name);
    const image: RgbaImage = { width: d.width, height: d.height, channels: 4, data: d.data };
    return { index: f.index, name: f.name, image: o.resolution ? squareOf(image, o.resolution) : image };
  });
