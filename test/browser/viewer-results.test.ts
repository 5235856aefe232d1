/**
 * Results keep their settings: each generated image shows what made it, copies its seed, fills the form again and
 * downloads under a name that says what it is; the history of results is read from the server's runs, survives a
 * reload, is newest first and can be cleared (in this browser). The server's folders and defaults are shown.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chromiumPath, haveChromium } from './browser.ts';
import { fillForm, openPage, serverRuns, settled, shot, startRig, type ViewerRig } from './viewer-page.ts';

if (!haveChromium) console.warn(`viewer result tests skipped: no browser at ${chromiumPath}`);

/** The settings list of a result card as an object. */
const cardSettings = (card: Element) => {
  const dts = [...card.querySelectorAll('dl.settings dt')].map((d) => d.textContent ?? '');
  const dds = [...card.querySelectorAll('dl.settings dd')].map((d) => d.textContent ?? '');
  return Object.fromEntries(dts.map((k, i) => [k, dds[i]]));
};

describe.skipIf(!haveChromium)('the viewer shows results with their settings', () => {
  let rig: ViewerRig;
  beforeAll(async () => {
    rig = await startRig();
    await rig.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: rig.server.url });
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('captions an image with every setting that made it, copies its seed and downloads it under a telling name', async () => {
    const page = await openPage(rig);
    await fillForm(page, 'generate', {
      prompt: 'a photo of a red disc',
      negativePrompt: 'blurry',
      steps: '5',
      guidance: '6',
      seed: '41',
    });
    await page.selectOption('[data-stages=generate] [data-stage=sampler] select', 'ddpm-ancestral');
    await page.click('#generate-start');
    expect((await settled(page, '.run[data-kind=generate]')).status).toBe('done');
    const shown = await page.$eval('.run .result', cardSettings);
    expect(shown).toEqual({
      prompt: 'a photo of a red disc',
      'negative prompt': 'blurry',
      seed: '41',
      steps: '5',
      guidance: '6',
      sampler: 'ddpm-ancestral',
      size: '64×64',
      model: 'tiny',
      embeddings: '—',
    });
    expect(await page.getAttribute('.run .result a.download-image', 'download')).toBe(
      'a-photo-of-a-red-disc-seed41-5steps-ddpm-ancestral-64x64.png',
    );
    await page.click('.run .result button.copy-seed');
    await page.waitForSelector('.run .result button.copy-seed[data-copied=true]');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('41');
    await page.close();
  });

  test('"reuse settings" fills the generate form with a result\'s settings, sampler included', async () => {
    const page = await openPage(rig);
    await fillForm(page, 'generate', { prompt: 'a blue square', steps: '3', seed: '9', guidance: '3' });
    await page.selectOption('[data-stages=generate] [data-stage=sampler] select', 'ddpm-ancestral');
    await page.click('#generate-start');
    expect((await settled(page, '.run[data-kind=generate]')).status).toBe('done');
    await fillForm(page, 'generate', { prompt: 'something else', steps: '30', seed: '1', guidance: '9' });
    await page.selectOption('[data-stages=generate] [data-stage=sampler] select', '');
    await page.click('.run .result button.reuse');
    const form = await page.$eval('#generate-form', (f) => {
      const v = (n: string) => (f.querySelector(`[name="${n}"]`) as HTMLInputElement).value;
      return {
        prompt: v('prompt'),
        steps: v('steps'),
        seed: v('seed'),
        guidance: v('guidance'),
        sampler: v('stage:sampler'),
      };
    });
    expect(form).toEqual({ prompt: 'a blue square', steps: '3', seed: '9', guidance: '3', sampler: 'ddpm-ancestral' });
    // The form now asks for the same image: generating again gives the same bytes.
    await page.click('#generate-start');
    await page.waitForFunction(() => document.querySelectorAll('.run[data-kind=generate]').length === 2);
    expect((await settled(page, '.run:nth-child(1)')).status).toBe('done');
    const [again, first] = await page.$$eval('.run .result img', (imgs) =>
      Promise.all(
        imgs.map(async (img) => {
          const blob = await (await fetch((img as HTMLImageElement).src)).arrayBuffer();
          return [...new Uint8Array(blob)].join(',');
        }),
      ),
    );
    expect(again).toBe(first);
    await page.close();
  });

  test('keeps a history of results across a reload, newest first, and clears it in this browser only', async () => {
    const page = await openPage(rig);
    for (const seed of ['3', '4']) {
      await fillForm(page, 'generate', { prompt: `history ${seed}`, steps: '2', seed });
      await page.click('#generate-start');
      expect((await settled(page, '.run:nth-child(1)')).status).toBe('done');
    }
    await page.reload();
    await page.waitForSelector('body[data-ready=true]');
    const finished = (await serverRuns(rig))
      .filter((r) => r.kind === 'generate' && r.status === 'done')
      .sort((a, b) => String(b.endedAt).localeCompare(String(a.endedAt)))
      .map((r) => r.id);
    await page.waitForFunction((n) => document.querySelectorAll('#gallery .result').length === n, finished.length);
    const order = await page.$$eval('#gallery .result', (cs) => cs.map((c) => (c as HTMLElement).dataset.runId));
    expect(order).toEqual(finished);
    expect(await page.$eval('#gallery .result', cardSettings)).toMatchObject({ prompt: 'history 4', seed: '4' });
    await shot(page, 'history');

    await page.click('#clear-history');
    await page.waitForFunction(() => document.querySelectorAll('#gallery .result').length === 0);
    await page.reload();
    await page.waitForSelector('body[data-ready=true]');
    expect(await page.$$eval('#gallery .result', (cs) => cs.length)).toBe(0);
    // The server still has every run; a new result shows up again.
    expect((await serverRuns(rig)).filter((r) => r.kind === 'generate').length).toBeGreaterThanOrEqual(2);
    await fillForm(page, 'generate', { prompt: 'after clearing', steps: '2' });
    await page.click('#generate-start');
    expect((await settled(page, '.run:nth-child(1)')).status).toBe('done');
    await page.waitForFunction(() => document.querySelectorAll('#gallery .result').length === 1);
    expect(await page.$eval('#gallery .result', cardSettings)).toMatchObject({ prompt: 'after clearing' });
    await page.close();
  });

  test("shows the server's image folders and what each field means when left empty", async () => {
    const page = await openPage(rig);
    const settings = await (await fetch(`${rig.server.url}/v1/settings`)).json();
    expect(await page.getAttribute('#images-roots', 'data-roots')).toBe(settings.roots.images.join('\n'));
    expect(await page.textContent('#images-roots')).toContain(settings.roots.images[0]);
    expect(await page.getAttribute('#generate-form [name=steps]', 'placeholder')).toBe(
      `default: ${settings.defaults.generate.steps}`,
    );
    expect(await page.getAttribute('#train-form [name=lr]', 'placeholder')).toBe(
      `default: ${settings.defaults.train.lr}`,
    );
    const labels = await page.$$eval('[data-stages=generate] select', (ss) =>
      ss.map((s) => (s as HTMLSelectElement).options[0].textContent),
    );
    const { sampler, preview } = settings.defaults.pipelines.generate;
    expect(labels).toEqual([
      sampler ? `server default (${sampler.use})` : 'server default',
      `server default (${preview.use}, every ${preview.every})`,
    ]);
    // How often a generation previews is the preview stage's "every": the form has no second control for it.
    expect(await page.$$('#generate-form [name=previewEvery]')).toHaveLength(0);
    await page.close();
    expect(rig.pageErrors).toEqual([]);
  });
});
