/**
 * LoRA files merged by `generate --lora` against PyTorch: test/fixtures/torch-sd/make_lora.py applies the same
 * adapter to the torch-made UNet with kohya's forward hook and records the outputs.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { diskModelFiles } from '../adapters/fs.ts';
import { loadLoraInto } from '../adapters/load-lora.ts';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { tensor } from '../common/tensor.ts';
import { openModelFolder, type SdModel } from '../weights/model-folder.ts';

const fixtures = join(import.meta.dir, 'fixtures', 'torch-sd');
const model = await openModelFolder(diskModelFiles(join(fixtures, 'folder')), ortSessionFactory);
const want = JSON.parse(readFileSync(join(fixtures, 'lora', 'expected.json'), 'utf8'));

const unetOut = async (m: SdModel) => {
  const s = await m.session('unet');
  const out = await s.run({
    sample: tensor('float32', [2, 4, 8, 8], Float32Array.from(want.sample)),
    timestep: tensor('int64', [2], BigInt64Array.from(want.timestep.map(BigInt))),
    encoder_hidden_states: tensor('float32', [2, 77, 32], Float32Array.from(want.encoder_hidden_states)),
  });
  return out.out_sample.data as Float32Array;
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

describe('a LoRA merged into the torch-made UNet', () => {
  test('the rebuilt PyTorch UNet is the exported one (plain outputs agree)', async () => {
    expect(maxDiff(await unetOut(model), want.plain)).toBeLessThan(1e-5);
  });

  test.each(['kohya', 'diffusers'])(
    '%s keys at scale 0.8 give what PyTorch with the LoRA hook gives',
    async (layout) => {
      const m = await loadLoraInto(model, [
        { file: join(fixtures, 'lora', `${layout}.safetensors`), scale: want.multiplier },
      ]);
      const got = await unetOut(m);
      await m.release();
      expect(maxDiff(want.with_lora, want.plain)).toBeGreaterThan(1e-2); // the LoRA matters…
      expect(maxDiff(got, want.with_lora)).toBeLessThan(1e-5); // …and is applied as PyTorch applies it
    },
  );
});
