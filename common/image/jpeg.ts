import jpegJs from 'jpeg-js';
import { PipelineError } from '../errors.ts';
import type { RgbaImage } from './image.ts';
import { readJpegMarkers } from './jpeg-markers.ts';
import { limits } from '../limits.ts';

/** SOF kinds jpeg-js cannot decode, by the marker's low byte. */
const KIND: Record<number, string> = { 195: 'lossless', 197: 'hierarchical', 198: 'hierarchical', 199: 'hierarchical' };
const bad = (message: string) => new PipelineError('bad_image', message);

/** A decoded JPEG: opaque RGBA, plus the EXIF TIFF block if the file has one (for its orientation). */
export interface DecodedJpeg {
  readonly image: RgbaImage;
  readonly exif?: Uint8Array;
}

/**
 * Colour transform to ask jpeg-js for. jpeg-js converts three components from YCbCr unless told otherwise and
 * ignores an Adobe transform of 0, so RGB JPEGs — Adobe transform 0, or component ids 'R' 'G' 'B' as
 * libjpeg-turbo recognises them — need `false`. Four components follow the Adobe flag (0 CMYK, 2 YCCK), which
 * jpeg-js reads itself; undefined keeps its default.
 */
const colorTransformFor = (ids: readonly number[], adobeTransform: number | undefined): boolean | undefined => {
  if (ids.length !== 3) return undefined;
  if (adobeTransform === 0) return false;
  if (adobeTransform === undefined && ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42) return false;
  return undefined;
};

/**
 * Decodes an 8-bit baseline, extended or progressive JPEG to RGBA (alpha 255) with jpeg-js: grey becomes
 * R = G = B; Adobe CMYK and YCCK, stored inverted as Photoshop writes them, become RGB by the naive
 * R = 255·(1 − C)(1 − K) (no ICC profile is applied). Lossless, hierarchical, arithmetic-coded and 12-bit
 * files, 4-component files without an Adobe marker, and truncated files are `PipelineError('bad_image')`.
 *
 * @example
 * const { image, exif } = decodeJpeg(bytes);
 */
export const decodeJpeg = (bytes: Uint8Array): DecodedJpeg => {
  const info = readJpegMarkers(bytes);
  const { frame, precision, width, height, componentIds, adobeTransform, exif } = info;
  if (frame >= 0xc9)
    throw bad(
      `arithmetic-coded JPEG (SOF 0xff${frame.toString(16)}) is not supported; convert it to PNG or a baseline JPEG`,
    );
  if (KIND[frame])
    throw bad(
      `${KIND[frame]} JPEG (SOF 0xff${frame.toString(16)}) is not supported; convert it to PNG or a baseline JPEG`,
    );
  if (precision !== 8) throw bad(`${precision}-bit JPEG is not supported, only 8-bit`);
  // Checked on the SOF header before jpeg-js allocates anything (a DNL-defined height of 0 is refused as empty).
  if (width < 1 || height < 1 || width * height > limits.imagePixels)
    throw bad(`JPEG size ${width}×${height} is empty or too large (at most ${limits.imagePixels} pixels)`);
  if (![1, 3, 4].includes(componentIds.length))
    throw bad(`JPEG with ${componentIds.length} colour components is not supported`);
  if (componentIds.length === 4 && adobeTransform === undefined)
    throw bad('4-component (CMYK) JPEG without an Adobe APP14 marker is not supported');
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpegJs.decode(bytes, {
      useTArray: true, // a Uint8Array rather than a Node Buffer
      formatAsRGBA: true,
      colorTransform: colorTransformFor(componentIds, adobeTransform),
      maxResolutionInMP: limits.imagePixels / 1e6 + 1,
      maxMemoryUsageInMB: limits.jpegDecodeMiB,
    });
  } catch (e) {
    throw bad(`JPEG data is corrupt: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (decoded.width !== width || decoded.height !== height || decoded.data.length !== width * height * 4) {
    throw bad(`JPEG decoded to ${decoded.width}×${decoded.height}, its header says ${width}×${height}`);
  }
  return { image: { width, height, channels: 4, data: decoded.data }, exif };
};
