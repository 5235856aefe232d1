import { describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { diskModelFiles } from '../../fs.ts';
import { ortSessionFactory } from '../../ort-session.ts';
import { modelPath, shippedTinyDir } from '../../open-model.ts';
import { runGenerate } from '../../../pipeline/generate.ts';
import { parseGenerateRequest } from '../../../common/requests.ts';
import { decodePng } from '../../../common/image/png.ts';
import { worldVocabulary } from '../../../pipeline/world/index.ts';
import { openModelFolder } from '../../../weights/model-folder.ts';
import { run, spec } from './pretrain.ts';
import { defaultRecipe } from '../../../pipeline/pretrain/pretrain-config.ts';

const shipped = shippedTinyDir();
const hasShipped = existsSync(join(shipped, 'model_index.json'));

describe('pseudoword pretrain', () => {
  test('prints its help with every option', async () => {
    let out = '';
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
    try {
      await run(['--help']);
    } finally {
      process.stdout.write = write;
    }
    expect(out).toContain('Usage: pseudoword pretrain');
    for (const flag of Object.keys(spec.options)) expect(out).toContain(`--${flag}`);
  });

  test('rejects a step count that is not an integer', async () => {
    await expect(run(['--vae-steps', 'many'])).rejects.toThrow(/--vae-steps must be an integer/);
  });
});

describe.skipIf(!hasShipped)('the shipped trained tiny model', () => {
  test("is what the name 'tiny' resolves to", async () => {
    expect(await modelPath('tiny')).toBe(shipped);
  });

  test('opens as a model folder with fitted previews and a tokenizer that has every world word as one token', async () => {
    const model = await openModelFolder(diskModelFiles(shipped), ortSessionFactory);
    expect(model.info).toMatchObject({ family: 'tiny', resolution: 64, latentChannels: 4, vaeScale: 4 });
    expect(model.info.previewFactors).toHaveLength(4);
    const info = JSON.parse((await model.files.readText('pseudoword.json'))!);
    expect(info.previewFactorsFitted).toBe(true);
    for (const w of worldVocabulary) expect(model.tokenizer.encode(w)).toHaveLength(1);
    await model.release();
  });

  test('was made by the default recipe, so `pseudoword pretrain` is the command that rebuilds it', () => {
    const info = JSON.parse(readFileSync(join(shipped, 'pseudoword.json'), 'utf8'));
    expect(info.trained.recipe).toEqual(JSON.parse(JSON.stringify(defaultRecipe)));
  });

  test('generates a 64-px image from a prompt of the world', async () => {
    const model = await openModelFolder(diskModelFiles(shipped), ortSessionFactory);
    const request = parseGenerateRequest({ model: 'shipped', prompt: 'a red circle', steps: 4, seed: 1 });
    const frames = await lastValueFrom(runGenerate(request, { openModel: async () => model }, {}).pipe(toArray()));
    const image = frames.find((f) => f.type === 'image');
    if (image?.type !== 'image') throw new Error('no image frame');
    const png = await decodePng(image.png);
    expect([png.width, png.height]).toEqual([64, 64]);
    await model.release();
  });
});
