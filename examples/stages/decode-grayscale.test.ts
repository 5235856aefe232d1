import { describe, expect, it } from 'bun:test';
import { firstValueFrom, of } from 'rxjs';
import { encodePng } from '../../common/image/png.ts';
import type { StageContext } from '../../pipeline/stream-pipelines/stage-definition.ts';
import stage, { grayscale } from './decode-grayscale.ts';

// The stage needs no model, so its context can be empty.
const ctx = {} as StageContext;
const pixel = (r: number, g: number, b: number) => ({
  width: 1,
  height: 1,
  channels: 4 as const,
  data: Uint8Array.of(r, g, b, 255),
});

describe('decode-grayscale', () => {
  it('weights the channels with BT.601 luma by default: (200, 100, 50) → round(59.8 + 58.7 + 5.7) = 124', async () => {
    const png = await encodePng(pixel(200, 100, 50));
    const op = await stage.create(stage.settings.parse({}), ctx);
    const out = await firstValueFrom(of({ index: 0, name: 'dot.png', bytes: png }).pipe(op));
    expect(Array.from(out.image.data)).toEqual([124, 124, 124, 255]);
    expect(out.name).toBe('dot.png');
  });

  it('takes its own weights, and refuses a negative one naming the field', () => {
    expect(Array.from(grayscale(pixel(200, 100, 50), [0, 1, 0]).data)).toEqual([100, 100, 100, 255]);
    const r = stage.settings.safeParse({ weights: [1, -1, 0] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path).toEqual(['weights', 1]);
  });
});
