/**
 * What the viewer's browser tests share: the real server and a headless Chromium for one test file, pages that
 * are ready to use, the wait for a run panel to finish, screenshots, and a drop of files as the browser delivers it.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import type { ServeHandle } from '../../adapters/serve.ts';
import { conceptFolder } from '../train-helpers.ts';
import { artifactsDir, launchBrowser } from './browser.ts';
import { startViewerServer } from './viewer-server.ts';

/** The states a run panel ends in. */
export const finished = ['done', 'error', 'cancelled', 'lost'];

/** A comma-separated step list (a data attribute) as numbers. */
export const steps = (csv: string | undefined): number[] => (csv ? csv.split(',').map(Number) : []);

export interface ViewerRig {
  server: ServeHandle;
  context: BrowserContext;
  /** A folder of training images inside the server's images root. */
  images: string;
  /** Errors thrown by any page's scripts. */
  pageErrors: string[];
  close(): Promise<void>;
}

/** Starts the server (on a fresh concept folder) and the browser. */
export const startRig = async (): Promise<ViewerRig> => {
  const images = await conceptFolder(4, 64);
  const [server, browser] = await Promise.all([startViewerServer(images), launchBrowser()]);
  return {
    server,
    context: browser.context,
    images,
    pageErrors: [],
    async close() {
      await browser.close();
      await server.close();
      rmSync(images, { recursive: true, force: true });
    },
  };
};

/** A new page on the viewer, once it says it is ready; `viewport` overrides the browser's default size. */
export const openPage = async (rig: ViewerRig, viewport?: { width: number; height: number }): Promise<Page> => {
  const page = await rig.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  page.on('pageerror', (e) => rig.pageErrors.push(e.message));
  await page.goto(rig.server.url);
  await page.waitForSelector('body[data-ready=true]');
  return page;
};

export const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true });

/** Waits until the panel matching `selector` has finished, and returns its data attributes and message. */
export const settled = async (
  page: Page,
  selector: string,
  timeout = 90_000,
): Promise<Record<string, string | undefined>> => {
  await page.waitForFunction(
    ([s, end]) => end.includes((document.querySelector(s) as HTMLElement | null)?.dataset.status ?? ''),
    [selector, finished] as const,
    { timeout },
  );
  return page.$eval(
    selector,
    (e) =>
      ({ ...(e as HTMLElement).dataset, message: e.querySelector('.message')?.textContent ?? '' }) as Record<
        string,
        string | undefined
      >,
  );
};

export const fillForm = async (page: Page, form: 'train' | 'generate', values: Record<string, string>) => {
  for (const [name, value] of Object.entries(values)) await page.fill(`#${form}-form [name=${name}]`, value);
};

/** Drops the files of `folder` onto the page's drop zone as a DragEvent carrying a DataTransfer. */
export const dropFiles = async (page: Page, folder: string) => {
  const files = readdirSync(folder).map((name) => ({
    name,
    b64: readFileSync(join(folder, name)).toString('base64'),
  }));
  await page.evaluate((files) => {
    const dt = new DataTransfer();
    for (const f of files)
      dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: 'image/png' }));
    document
      .querySelector('#drop-zone')!
      .dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, files);
  return files.map((f) => f.name);
};

/** The server's run list, as a client other than the page reads it. */
export const serverRuns = async (rig: ViewerRig) =>
  (await (await fetch(`${rig.server.url}/v1/runs`)).json()) as {
    id: string;
    kind: string;
    status: string;
    step: number;
    endedAt?: string;
  }[];
