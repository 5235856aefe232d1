import { PipelineError } from '../errors.ts';

/** What the marker segments before the first scan say about a JPEG. */
export interface JpegInfo {
  /** The SOF marker's low byte: 0xc0 baseline, 0xc1 extended, 0xc2 progressive, others unsupported kinds. */
  readonly frame: number;
  readonly precision: number;
  readonly width: number;
  readonly height: number;
  /** Component ids in frame order (1 = grey, 3 = YCbCr or RGB, 4 = CMYK or YCCK). */
  readonly componentIds: readonly number[];
  /** The Adobe APP14 colour transform: 0 none (RGB / CMYK), 1 YCbCr, 2 YCCK; undefined without the marker. */
  readonly adobeTransform?: number;
  /** The TIFF block of the first APP1 "Exif\0\0" segment. */
  readonly exif?: Uint8Array;
}

const bad = (message: string) => new PipelineError('bad_image', message);
const EXIF_ID = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"
const ADOBE_ID = [0x41, 0x64, 0x6f, 0x62, 0x65]; // "Adobe"
const startsWith = (b: Uint8Array, id: number[]) => b.length >= id.length && id.every((v, i) => b[i] === v);
/** SOF0–SOF15, leaving out DHT (c4), JPG (c8) and DAC (cc), which share the range (T.81 Table B.1). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/**
 * Walks a JPEG's marker segments up to the first SOS (T.81 Annex B) and checks that an EOI marker follows the
 * scan data. Entropy-coded data escapes every 0xFF as FF 00, so an FF D9 after the first SOS can only be the
 * end-of-image marker: its absence means the file was cut short, which decoders otherwise paper over with grey.
 *
 * @example
 * const { width, height, adobeTransform, exif } = readJpegMarkers(bytes);
 */
export const readJpegMarkers = (bytes: Uint8Array): JpegInfo => {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw bad('not a JPEG file (no SOI marker)');
  let sof: Omit<JpegInfo, 'adobeTransform' | 'exif'> | undefined;
  let adobeTransform: number | undefined;
  let exif: Uint8Array | undefined;
  let pos = 2;
  for (;;) {
    if (pos + 4 > bytes.length) throw bad(`JPEG is truncated at byte ${pos}, before its image data`);
    if (bytes[pos] !== 0xff) throw bad(`JPEG has no marker at byte ${pos} (found 0x${bytes[pos].toString(16)})`);
    const marker = bytes[pos + 1];
    if (marker === 0xff) {
      pos++; // fill byte before a marker (T.81 B.1.1.2)
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      pos += 2; // TEM, RSTn and SOI stand alone, without a length
      continue;
    }
    if (marker === 0xd9) throw bad('JPEG ends (EOI) before any image data');
    const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (length < 2 || pos + 2 + length > bytes.length)
      throw bad(`JPEG is truncated inside the segment with marker 0xff${marker.toString(16)} at byte ${pos}`);
    const data = bytes.subarray(pos + 4, pos + 2 + length);
    if (marker === 0xe1 && !exif && startsWith(data, EXIF_ID)) exif = data.subarray(EXIF_ID.length);
    // APP14 "Adobe": version (2 bytes), flags0 (2), flags1 (2), then the transform byte at offset 11.
    if (marker === 0xee && data.length >= 12 && startsWith(data, ADOBE_ID)) adobeTransform = data[11];
    if (isSof(marker)) {
      if (data.length < 6 || data.length < 6 + 3 * data[5]) throw bad('JPEG frame header (SOF) is too short');
      const componentIds = Array.from({ length: data[5] }, (_, i) => data[6 + 3 * i]);
      sof = {
        frame: marker,
        precision: data[0],
        height: (data[1] << 8) | data[2],
        width: (data[3] << 8) | data[4],
        componentIds,
      };
    }
    if (marker === 0xda) {
      if (!sof) throw bad('JPEG has a scan (SOS) before its frame header (SOF)');
      if (!hasEoi(bytes, pos + 2 + length)) throw bad('JPEG is truncated: the end-of-image marker (FF D9) is missing');
      return { ...sof, adobeTransform, exif };
    }
    pos += 2 + length;
  }
};

const hasEoi = (bytes: Uint8Array, from: number): boolean => {
  for (let i = bytes.indexOf(0xff, from); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(0xff, i + 1)) {
    if (bytes[i + 1] === 0xd9) return true;
  }
  return false;
};
