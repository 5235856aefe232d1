import { describe, expect, it } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStageBeside } from '../../adapters/load-user-stage.ts';
import { openModel } from '../../adapters/open-model.ts';
import { rgbaToTensor, type RgbaImage } from '../../common/image/image.ts';
import { encodePng } from '../../common/image/png.ts';
import { runVaeEncoder } from '../../weights/vae-io.ts';
import { grayscale } from '../../examples/stages/decode-grayscale.ts';
import type { LatentItem } from '../../common/stream-items.ts';
import { contextOn, runToEnd } from './test-helpers.ts';

const root = join(import.meta.dir, '../..');
const path = (name: string) => join(root, 'examples/pipelines', name);
const read = (name: string) => JSON.parse(readFileSync(path(name), 'utf8'));
const ctx = contextOn(openModel);
const colour: RgbaImage = (() => {
  const data = new Uint8Array(64 * 64 * 4);
  for (let p = 0; p < 64 * 64; p++) data.set([250 - (p % 64), (p >> 6) * 3, 40, 255], p * 4);
  return { width: 64, height: 64, channels: 4, data };
})();

describe('a user stage loaded from a file', () => {
  it('swaps decode-image in the encode example: the latents are those of the grey image', async () => {
    const files = [{ index: 0, name: 'c.png', bytes: await encodePng(colour) }];
    const builtIn = read('encode-images.json');
    const swapped = read('encode-grayscale.json');
    expect(swapped.stages.slice(1)).toEqual(builtIn.stages.slice(1)); // only the first stage differs
    const [grey] = await runToEnd<LatentItem>(swapped, files, ctx, {
      loadStage: loadStageBeside(path('encode-grayscale.json')),
    });
    const [plain] = await runToEnd<LatentItem>(builtIn, files, ctx);
    const model = await openModel('tiny');
    const direct = await runVaeEncoder(
      await model.session('vae_encoder'),
      rgbaToTensor(grayscale(colour, [0.299, 0.587, 0.114])),
    );
    grey.latents.data.forEach((v, i) => expect(v).toBeCloseTo(direct.value.data[i] * model.info.scalingFactor, 5));
    expect(Math.max(...plain.latents.data.map((v, i) => Math.abs(v - grey.latents.data[i])))).toBeGreaterThan(1e-3);
  });

  it('is refused with the path named when the file is not there', async () => {
    const desc = { stages: [{ use: './no-such-stage.ts' }] };
    const e = await runToEnd(desc, [], ctx, { loadStage: loadStageBeside(path('encode-images.json')) }).catch((e) => e);
    expect(e.message).toStartWith('stages[0] (./no-such-stage.ts): cannot load the module: no file ');
    expect(e.details.field).toBe('stages[0].use');
  });
});
