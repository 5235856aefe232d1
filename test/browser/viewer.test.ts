/**
 * The viewer end to end: the real server (tiny model, real runs) in this process, the page in headless
 * Chromium. Assertions read the state the page exposes in data attributes (`data-status`,
 * `data-preview-steps`, `data-loss-points`, …); a screenshot of each test lands in test-artifacts/browser/.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Page } from 'playwright-core';
import { chromiumPath, haveChromium } from './browser.ts';
import * as shared from './viewer-page.ts';
import { dropFiles, settled, shot, startRig, steps, type ViewerRig } from './viewer-page.ts';

if (!haveChromium)
  console.warn(
    `viewer tests skipped: no browser at ${chromiumPath} (apt-get install -y chromium, or set PSEUDOWORD_CHROMIUM)`,
  );

const isIncreasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]);

describe.skipIf(!haveChromium)('the viewer in headless Chromium', () => {
  let rig: ViewerRig;
  let server: ViewerRig['server'];
  let images: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    rig = await startRig();
    ({ server, images } = rig);
    rig.pageErrors = pageErrors;
  });
  afterAll(async () => {
    await rig?.close();
  });

  const openPage = (): Promise<Page> => shared.openPage(rig);
  const fillTrainForm = (page: Page, values: Record<string, string>) => shared.fillForm(page, 'train', values);

  test('loads the page, reports the server healthy and lists the swappable stages it registers', async () => {
    const page = await openPage();
    expect(await page.textContent('#health')).toContain('ok');
    const stages = await (await fetch(`${server.url}/v1/stages`)).json();
    const shown = await page.$$eval('[data-stages=generate] .stage', (els) =>
      els.map((e) => (e as HTMLElement).dataset.stage),
    );
    expect(shown).toEqual(Object.keys(stages.generate));
    const samplers = await page.$$eval('[data-stages=generate] [data-stage=sampler] option', (os) =>
      os.map((o) => (o as HTMLOptionElement).value).filter(Boolean),
    );
    expect(samplers).toEqual(stages.generate.sampler.map((c: { use: string }) => c.use));
    await shot(page, 'page-loaded');
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  test('shows a generation on tiny step by step, in order, then the decoded image, the step counter and speed', async () => {
    const page = await openPage();
    await page.fill('#generate-form [name=prompt]', 'a photo of a red disc');
    await page.fill('#generate-form [name=steps]', '8');
    await page.click('#generate-start');
    const run = await settled(page, '.run[data-kind=generate]');
    expect(run.message).toBe('');
    expect(run.status).toBe('done');
    const seen = steps(run.previewSteps);
    // A slow page may be sent only the newest preview, never an old one after a new one.
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(isIncreasing(seen)).toBe(true);
    expect(seen.at(-1)).toBe(8);
    expect(
      steps(await page.$$eval('.run .strip canvas', (cs) => cs.map((c) => (c as HTMLElement).dataset.step).join(','))),
    ).toEqual(seen);
    expect(run.images).toBe('1');
    const image = await page.$eval('.run .result img', async (img) => {
      await (img as HTMLImageElement).decode();
      return { w: (img as HTMLImageElement).naturalWidth, h: (img as HTMLImageElement).naturalHeight };
    });
    expect(image.w).toBeGreaterThan(0);
    expect(image.h).toBe(image.w);
    expect(await page.textContent('.run .counter')).toBe('denoise 8/8');
    expect(await page.textContent('.run .speed')).toMatch(/it\/s$/);
    await shot(page, 'generation');
    await page.close();
  });

  test('runs two generations side by side, each with its own stream, and swaps the preview stage from the page', async () => {
    const page = await openPage();
    const sent: unknown[] = [];
    page.on('request', (r) => r.url().endsWith('/v1/generate') && sent.push(r.postDataJSON()));
    await page.fill('#generate-form [name=steps]', '6');
    await page.click('#generate-start');
    await page.selectOption('[data-stages=generate] [data-stage=preview] select', 'latent-rgb');
    await page.fill('[data-stages=generate] [data-stage=preview] [name=every]', '2');
    await page.fill('#generate-form [name=seed]', '7');
    await page.click('#generate-start');
    await page.waitForFunction(() => document.querySelectorAll('.run[data-kind=generate]').length === 2);
    const [second, first] = [await settled(page, '.run:nth-child(1)'), await settled(page, '.run:nth-child(2)')];
    expect([first.status, second.status]).toEqual(['done', 'done']);
    expect(first.runId).not.toBe(second.runId);
    expect(isIncreasing(steps(first.previewSteps)) && steps(first.previewSteps).at(-1) === 6).toBe(true);
    expect(sent[1]).toMatchObject({ seed: 7, pipeline: { preview: { use: 'latent-rgb', every: 2 } } });
    // Every second step only: the server ran the stage the page picked.
    expect(steps(second.previewSteps).every((s) => s % 2 === 0)).toBe(true);
    await shot(page, 'side-by-side');
    await page.close();
  });

  test('trains on images dropped onto the page with a swapped optimizer, showing loss points, a validation grid as it denoises, and checkpoints', async () => {
    const page = await openPage();
    // A drop as the browser delivers it: a DragEvent whose DataTransfer holds the files.
    const files = await dropFiles(page, images);
    expect(await page.getAttribute('#drop-zone', 'data-files')).toBe(String(files.length));
    const sent: string[] = [];
    page.on('request', (r) => r.url().endsWith('/v1/train') && sent.push(r.headers()['content-type'] ?? ''));
    // The browser does not hand a multipart body with files to the test: keep the `request` field as it is sent.
    await page.evaluate(() => {
      const send = window.fetch;
      window.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
        if (init?.body instanceof FormData) document.body.dataset.sentRequest = String(init.body.get('request'));
        return send(input, init);
      }) as typeof fetch;
    });
    // A stage swapped from the catalog travels inside the multipart `request` field, and the server accepts it.
    await page.selectOption('[data-stages=train] [data-stage=optimizer] select', 'sgd');
    await fillTrainForm(page, {
      token: '<disc>',
      init: 'toy',
      steps: '6',
      validateEvery: '3',
      validationImages: '2',
      validationSteps: '2',
      saveEvery: '3',
      previewEvery: '1',
    });
    await page.click('#train-start');
    const run = await settled(page, '.run[data-kind=train]', 120_000);
    expect(sent[0]).toStartWith('multipart/form-data');
    expect(JSON.parse((await page.getAttribute('body', 'data-sent-request'))!)).toMatchObject({
      token: '<disc>',
      pipeline: { optimizer: { use: 'sgd', momentum: 0.9 } },
    });
    expect(run.message).toBe('');
    expect(run.status).toBe('done');
    expect(Number(run.lossPoints)).toBe(6);
    expect(Number(run.validations)).toBeGreaterThanOrEqual(1);
    expect(Number(run.checkpoints)).toBeGreaterThanOrEqual(1);
    expect(steps(run.validationPreviewSteps).length).toBeGreaterThanOrEqual(1);
    const grid = await page.$$eval('.run .validations .grid:first-child img', (imgs) =>
      Promise.all(
        imgs.map(async (img) => (await (img as HTMLImageElement).decode(), (img as HTMLImageElement).naturalWidth)),
      ),
    );
    expect(grid).toHaveLength(2);
    expect(Math.min(...grid)).toBeGreaterThan(0);
    const href = await page.getAttribute('.run a.download', 'href');
    const embedding = await fetch(new URL(href!, server.url));
    expect(embedding.status).toBe(200);
    expect((await embedding.arrayBuffer()).byteLength).toBeGreaterThan(8);
    await shot(page, 'training');
    await page.close();
  });

  test("shows the server's refusal of a bad request in the run's panel", async () => {
    const page = await openPage();
    await fillTrainForm(page, { images: '/no/such/folder', token: '<disc>', init: 'toy', steps: '5' });
    await page.click('#train-start');
    const run = await settled(page, '.run[data-kind=train]');
    expect(run.status).toBe('error');
    expect(run.message).toMatch(/^\w+: images/);
    await page.close();
  });

  test('cancels a training run from its panel, and the server stops it', async () => {
    const page = await openPage();
    await fillTrainForm(page, {
      images,
      token: '<disc>',
      init: 'toy',
      steps: '2000',
      validateEvery: '0',
      saveEvery: '0',
      previewEvery: '1',
    });
    await page.click('#train-start');
    await page.waitForFunction(
      () => Number((document.querySelector('.run[data-kind=train]') as HTMLElement | null)?.dataset.lossPoints) >= 2,
      undefined,
      { timeout: 120_000 },
    );
    await page.click('.run[data-kind=train] button.cancel');
    const run = await settled(page, '.run[data-kind=train]');
    expect(run.status).toBe('cancelled');
    const runs = (await (await fetch(`${server.url}/v1/runs`)).json()) as { id: string; status: string }[];
    expect(runs.find((r) => r.id === run.runId)?.status).not.toBe('running');
    await shot(page, 'cancelled');
    await page.close();
  });

  test('picks a running training run back up after a reload, replaying its records before following it live', async () => {
    const page = await openPage();
    await fillTrainForm(page, {
      images,
      token: '<disc>',
      init: 'toy',
      steps: '5000',
      validateEvery: '5',
      validationImages: '1',
      validationSteps: '2',
      saveEvery: '0',
      previewEvery: '1',
    });
    await page.click('#train-start');
    const progressed = (selector: string, loss: number) =>
      page.waitForFunction(
        ([s, n]) => {
          const d = (document.querySelector(s) as HTMLElement | null)?.dataset;
          return Number(d?.lossPoints) >= n && Number(d?.validations) >= 1;
        },
        [selector, loss] as const,
        { timeout: 120_000 },
      );
    await progressed('.run[data-kind=train]', 6);
    const id = await page.getAttribute('.run[data-kind=train]', 'data-run-id');
    const before = Number(await page.getAttribute('.run[data-kind=train]', 'data-loss-points'));
    await page.reload();
    await page.waitForSelector('body[data-ready=true]');
    // The fresh page finds the run in the server's list and attaches: every loss point so far comes back.
    await progressed(`.run[data-run-id="${id}"]`, before + 1);
    expect(await page.getAttribute(`.run[data-run-id="${id}"]`, 'data-status')).toBe('running');
    await shot(page, 'reattached');
    await page.click(`.run[data-run-id="${id}"] button.cancel`);
    expect((await settled(page, `.run[data-run-id="${id}"]`)).status).toBe('cancelled');
    await page.close();
    expect(pageErrors).toEqual([]);
  });
});
