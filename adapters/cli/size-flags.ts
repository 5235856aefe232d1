/**
 * SDXL's micro-conditioning flags: `--original-size` and `--target-size` as WIDTHxHEIGHT (as image sizes are
 * written; the request keeps named fields, so diffusers' (height, width) order never reaches a user), `--crop` as
 * LEFT,TOP in pixels.
 */
import { PipelineError } from '../../common/errors.ts';

const ints = (v: string, sep: RegExp): number[] | undefined => {
  const parts = v.trim().split(sep);
  return parts.length === 2 && parts.every((p) => /^\d+$/.test(p.trim())) ? parts.map(Number) : undefined;
};

/**
 * `1024x768` → { width: 1024, height: 768 }; absent → null (the image's own size).
 * @example sizeFlag('1024x768', 'original-size') // { width: 1024, height: 768 }
 */
export const sizeFlag = (v: string | undefined, flag: string): { width: number; height: number } | null => {
  if (v === undefined) return null;
  const wh = ints(v, /[x×]/i);
  if (!wh)
    throw new PipelineError('bad_request', `--${flag} must be WIDTHxHEIGHT in pixels (e.g. 1024x1024), got '${v}'`);
  return { width: wh[0], height: wh[1] };
};

/**
 * `16,8` → { left: 16, top: 8 }; absent → null (crop 0, 0).
 * @example cropFlag('0,0') // { left: 0, top: 0 }
 */
export const cropFlag = (v: string | undefined): { left: number; top: number } | null => {
  if (v === undefined) return null;
  const lt = ints(v, /,/);
  if (!lt) throw new PipelineError('bad_request', `--crop must be LEFT,TOP in pixels (e.g. 0,0), got '${v}'`);
  return { left: lt[0], top: lt[1] };
};
