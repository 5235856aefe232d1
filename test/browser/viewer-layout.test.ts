/**
 * The viewer's layout on a phone (390×844) and a desktop (1920×1080): one column with nothing wider than the
 * screen, or controls beside panels side by side; a new run's panel scrolled into view; the film strip showing its
 * newest step; dropped files as thumbnails that the file input agrees with; charts with whole-step ticks, an EMA
 * and a hover read-out.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Page } from 'playwright-core';
import { chromiumPath, haveChromium } from './browser.ts';
import { dropFiles, fillForm, openPage, settled, shot, startRig, type ViewerRig } from './viewer-page.ts';

if (!haveChromium) console.warn(`viewer layout tests skipped: no browser at ${chromiumPath}`);

/** Every element wider than the viewport (or pushing the page sideways), named for the failure message. */
const tooWide = (page: Page) =>
  page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const name = (e: Element) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${[...e.classList].join('.')}`;
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().width > width + 0.5)
      .map(name);
    if (document.documentElement.scrollWidth > width)
      wide.push(`page scrolls sideways: ${document.documentElement.scrollWidth}`);
    return wide;
  });

/** Where the panel's top is relative to the viewport, right after it was opened. */
const panelTop = (page: Page, selector: string) =>
  page.$eval(selector, (p) => ({ top: p.getBoundingClientRect().top, height: window.innerHeight }));

describe.skipIf(!haveChromium)('the viewer laid out', () => {
  let rig: ViewerRig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  test('on a 390×844 phone: one column, panels full width, nothing wider than the screen, new panels scrolled to', async () => {
    const page = await openPage(rig, { width: 390, height: 844 });
    const names = await dropFiles(page, rig.images);
    const dropped = await page.evaluate(() => ({
      thumbs: [...document.querySelectorAll('#dropped-files img')].map((i) => (i as HTMLImageElement).alt),
      input: [...((document.querySelector('#image-files') as HTMLInputElement).files ?? [])].map((f) => f.name),
    }));
    expect(dropped).toEqual({ thumbs: names, input: names });
    await fillForm(page, 'train', {
      token: '<disc>',
      init: 'toy',
      steps: '4',
      validateEvery: '2',
      validationImages: '1',
      validationSteps: '2',
      saveEvery: '2',
    });
    await page.click('#train-start');
    const train = await panelTop(page, '.run[data-kind=train]');
    expect(train.top).toBeGreaterThanOrEqual(0);
    expect(train.top).toBeLessThan(train.height);
    expect((await settled(page, '.run[data-kind=train]', 120_000)).status).toBe('done');

    await page.evaluate(() => window.scrollTo(0, 0));
    await fillForm(page, 'generate', { prompt: 'a red disc', steps: '90' });
    await page.click('#generate-start');
    const generate = await panelTop(page, '.run[data-kind=generate]');
    expect(generate.top).toBeGreaterThanOrEqual(0);
    expect(generate.top).toBeLessThan(generate.height);
    expect((await settled(page, '.run[data-kind=generate]')).status).toBe('done');

    const columns = await page.evaluate(() => {
      const rect = (s: string) => document.querySelector(s)!.getBoundingClientRect();
      return { controls: rect('#controls'), runs: rect('#runs'), panel: rect('.run'), width: innerWidth };
    });
    expect(columns.runs.top).toBeGreaterThanOrEqual(columns.controls.bottom); // below the controls, not beside
    expect(columns.panel.width).toBeGreaterThan(columns.width * 0.9);
    expect(await tooWide(page)).toEqual([]);
    // The strip overflows (90 previews) and shows its newest end.
    const strip = await page.$eval('.run[data-kind=generate] .strip', (s) => ({
      overflows: s.scrollWidth > s.clientWidth,
      atEnd: s.scrollLeft + s.clientWidth >= s.scrollWidth - 1,
      last: (s.lastElementChild as HTMLElement).dataset.step,
    }));
    expect(strip).toEqual({ overflows: true, atEnd: true, last: '90' });
    await shot(page, 'phone');
    await page.close();
  });

  test('on a 1920×1080 desktop: controls beside the runs, two runs side by side', async () => {
    const page = await openPage(rig, { width: 1920, height: 1080 });
    await fillForm(page, 'generate', { prompt: 'a red disc', steps: '3' });
    await page.click('#generate-start');
    await page.click('#generate-start');
    await page.waitForFunction(() => document.querySelectorAll('.run[data-kind=generate]').length === 2);
    await settled(page, '.run:nth-child(1)');
    await settled(page, '.run:nth-child(2)');
    const boxes = await page.evaluate(() => {
      const rect = (e: Element) => e.getBoundingClientRect();
      const [a, b] = [...document.querySelectorAll('.run')].map(rect);
      return {
        controls: rect(document.querySelector('#controls')!),
        runs: rect(document.querySelector('#runs')!),
        a,
        b,
      };
    });
    expect(boxes.controls.right).toBeLessThanOrEqual(boxes.runs.left);
    expect(boxes.a.top).toBe(boxes.b.top);
    expect(await tooWide(page)).toEqual([]);
    await shot(page, 'desktop');
    await page.close();
  });

  test('draws the loss chart with whole-step ticks, an EMA behind a checkbox and a read-out of the hovered step', async () => {
    const page = await openPage(rig);
    await fillForm(page, 'train', {
      images: rig.images,
      token: '<disc>',
      init: 'toy',
      steps: '7',
      validateEvery: '0',
      saveEvery: '0',
    });
    await page.click('#train-start');
    expect((await settled(page, '.run[data-kind=train]', 120_000)).status).toBe('done');
    const chart = '.run .chart:first-of-type';
    const ticks = (await page.getAttribute(chart, 'data-step-ticks'))!.split(',').map(Number);
    expect(ticks.length).toBeGreaterThan(1);
    expect(ticks.every(Number.isInteger)).toBe(true);
    await page.check(`${chart} input.smooth`);
    expect(await page.getAttribute(chart, 'data-smoothed')).toBe('true');
    const over = await page.$eval(`${chart} .u-over`, (o) => {
      const r = o.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    });
    await page.mouse.move(over.x, over.y);
    await page.waitForSelector(`${chart} .readout[data-step]`);
    const readout = await page.textContent(`${chart} .readout`);
    expect(readout).toMatch(/^step [1-7] · loss [\d.e-]+ · validation loss – · loss \(EMA\) [\d.e-]+$/);
    await page.close();
    expect(rig.pageErrors).toEqual([]);
  });
});
