/**
 * The viewer tells the truth about its runs: cancelling a run that is still starting stops it on the server, a
 * run is never shown in two panels, the progress read-out names the phase and keeps the training counter through
 * validations, and a generation started from the page survives a reload of the page.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chromiumPath, haveChromium } from './browser.ts';
import { fillForm, openPage, serverRuns, settled, shot, startRig, type ViewerRig } from './viewer-page.ts';

if (!haveChromium) console.warn(`viewer run tests skipped: no browser at ${chromiumPath}`);

describe.skipIf(!haveChromium)('the viewer keeps its runs truthful', () => {
  let rig: ViewerRig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('cancelling a training run while it is still starting stops it on the server, and only then says cancelled', async () => {
    const page = await openPage(rig);
    const long = {
      images: rig.images,
      token: '<disc>',
      init: 'toy',
      steps: '2000',
      validateEvery: '0',
      saveEvery: '0',
    };
    await fillForm(page, 'train', long);
    // Hold the start request back a moment, so the cancel lands while the run is still starting whatever this
    // machine's speed (tiny's start-up can be over before the next line runs); the server then starts the run and
    // the page must stop it there once it learns its id.
    await page.route('**/v1/train', async (route) => {
      await new Promise((r) => setTimeout(r, 700));
      await route.continue();
    });
    await page.click('#train-start');
    const phaseAtCancel = await page.getAttribute('.run[data-kind=train]', 'data-phase');
    await page.click('.run[data-kind=train] button.cancel');
    const run = await settled(page, '.run[data-kind=train]');
    // Still in its start-up: nothing sent yet, the model loading, or the images being encoded.
    expect(['starting', 'load', 'encode']).toContain(phaseAtCancel!);
    expect(run.status).toBe('cancelled');
    expect(run.message).toStartWith('cancelled');
    const onServer = (await serverRuns(rig)).find((r) => r.id === run.runId);
    expect(onServer?.status).toBe('cancelled');
    expect(onServer!.step).toBeLessThan(2000);
    await page.close();
  });

  test("shows a run once: the runs table's watch button for a run already in a panel opens nothing", async () => {
    const page = await openPage(rig);
    await fillForm(page, 'train', { images: rig.images, token: '<disc>', init: 'toy', steps: '3000' });
    await page.click('#train-start');
    await page.waitForSelector('.run[data-kind=train][data-run-id]');
    const id = (await page.getAttribute('.run[data-kind=train]', 'data-run-id'))!;
    const row = `#server-runs tr[data-run-id="${id}"] button`;
    await page.waitForSelector(row);
    expect(await page.textContent(row)).toBe('watching');
    expect(await page.isDisabled(row)).toBe(true);
    // The page re-attaches after a reload: still one panel for the run.
    await page.reload();
    await page.waitForSelector(`.run[data-run-id="${id}"]`);
    await page.waitForSelector(`#server-runs tr[data-run-id="${id}"]`);
    expect(await page.$$eval(`.run[data-run-id="${id}"]`, (ps) => ps.length)).toBe(1);
    await page.click(`.run[data-run-id="${id}"] button.cancel`);
    expect((await settled(page, `.run[data-run-id="${id}"]`)).status).toBe('cancelled');
    await page.close();
  });

  test('reads out a training run as phases, keeps "train n/N" through its validations and ends at "train 6/6"', async () => {
    const page = await openPage(rig);
    // Every phase text the panel shows, in order, as it changes.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { phases: string[] }).phases = seen;
      new MutationObserver(() => {
        const t = document.querySelector('.run .phase')?.textContent ?? '';
        if (t && seen.at(-1) !== t) seen.push(t);
      }).observe(document.querySelector('#runs')!, { subtree: true, childList: true, characterData: true });
    });
    await fillForm(page, 'train', {
      images: rig.images,
      token: '<disc>',
      init: 'toy',
      steps: '6',
      validateEvery: '3',
      validationImages: '1',
      validationSteps: '3',
      saveEvery: '3',
    });
    await page.click('#train-start');
    const run = await settled(page, '.run[data-kind=train]', 120_000);
    expect(run.status).toBe('done');
    const phases = await page.evaluate(() => (window as unknown as { phases: string[] }).phases);
    expect(phases[0]).toBe('starting');
    expect(phases).toContain('loading the model and encoding the images');
    expect(phases).toContain('training');
    expect(phases.some((p) => /^validating \(denoising \d\/3\)$/.test(p))).toBe(true);
    expect(phases.at(-1)).toBe('finished');
    // The last thing before 'done' was the validation at step 6; the counter is the run's, not the validation's.
    expect(await page.textContent('.run .counter')).toBe('train 6/6');
    expect([run.step, run.of, run.percent]).toEqual(['6', '6', '100']);
    expect(await page.textContent('.run .percent')).toBe('100 %');
    expect(await page.textContent('.run .elapsed')).toMatch(/^elapsed \d+:\d\d$/);
    expect(Number((await page.textContent('.run .speed'))!.replace(' it/s', ''))).toBeGreaterThan(0);
    expect(await page.$eval('.run progress.bar', (b) => (b as HTMLProgressElement).value)).toBe(100);
    await shot(page, 'training-phases');
    await page.close();
  });

  test('says what a generation is doing instead of showing empty pictures until its first step arrives', async () => {
    const page = await openPage(rig);
    // Every state the panel passes through: its phase text and whether the pictures or the waiting line show.
    await page.evaluate(() => {
      const seen: { phase: string; waiting: boolean; pictures: boolean }[] = [];
      (window as unknown as { states: typeof seen }).states = seen;
      new MutationObserver(() => {
        const p = document.querySelector('.run');
        if (!p) return;
        const state = {
          phase: p.querySelector('.phase')?.textContent ?? '',
          waiting: !(p.querySelector('.waiting') as HTMLElement).hidden,
          pictures: !(p.querySelector('.run-body .pair') as HTMLElement).hidden,
        };
        if (JSON.stringify(seen.at(-1)) !== JSON.stringify(state)) seen.push(state);
      }).observe(document.querySelector('#runs')!, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
      });
    });
    await fillForm(page, 'generate', { prompt: 'a red disc', steps: '4' });
    await page.click('#generate-start');
    const run = await settled(page, '.run[data-kind=generate]');
    expect(run.status).toBe('done');
    const states = await page.evaluate(
      () => (window as unknown as { states: { phase: string; waiting: boolean; pictures: boolean }[] }).states,
    );
    const firstPicture = states.findIndex((s) => s.pictures);
    expect(firstPicture).toBeGreaterThan(0);
    const before = states.slice(0, firstPicture);
    expect(before[0]).toEqual({ phase: 'starting', waiting: true, pictures: false });
    expect(before.every((s) => s.waiting && ['starting', 'loading the model', 'denoising'].includes(s.phase))).toBe(
      true,
    );
    expect(await page.textContent('.run .phase')).toBe('finished');
    expect(await page.textContent('.run .counter')).toBe('denoise 4/4');
    await page.close();
  });

  test('a generation started from the page keeps going through a reload of the page, which picks it up again', async () => {
    const page = await openPage(rig);
    await fillForm(page, 'generate', { prompt: 'a slow red disc', steps: '400' });
    await page.click('#generate-start');
    await page.waitForFunction(
      () => ((document.querySelector('.run') as HTMLElement | null)?.dataset.previewSteps ?? '').split(',').length >= 3,
      undefined,
      { timeout: 60_000 },
    );
    const id = (await page.getAttribute('.run[data-kind=generate]', 'data-run-id'))!;
    await page.reload();
    await page.waitForSelector('body[data-ready=true]');
    const run = await settled(page, `.run[data-run-id="${id}"]`, 120_000);
    expect(run.message).toBe('');
    expect(run.status).toBe('done');
    expect(run.images).toBe('1');
    expect((await serverRuns(rig)).find((r) => r.id === id)?.status).toBe('done');
    await shot(page, 'generation-after-reload');
    await page.close();
    expect(rig.pageErrors).toEqual([]);
  });
});
