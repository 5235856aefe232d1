/**
 * Headless Chromium for the viewer's tests: Debian's `chromium` driven by playwright-core (which downloads no
 * browser of its own). Each launch gets a fresh profile folder, removed on close.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { projectRoot } from '../../adapters/project-paths.ts';

/** Where the browser is: Debian's package puts it here; PSEUDOWORD_CHROMIUM points elsewhere. */
export const chromiumPath = process.env.PSEUDOWORD_CHROMIUM ?? '/usr/bin/chromium';

/** Whether the browser tests can run on this machine. */
export const haveChromium = existsSync(chromiumPath);

/** Screenshots land here (gitignored): one per test, kept as artifacts. */
export const artifactsDir = join(projectRoot, 'test-artifacts', 'browser');

// No GPU, no network beyond the page's own server, nothing that phones home or updates while a test runs.
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A browser context on a fresh profile; `close()` shuts the browser and removes the profile. */
export const launchBrowser = async (): Promise<{ context: BrowserContext; close: () => Promise<void> }> => {
  const profile = mkdtempSync(join(tmpdir(), 'pseudoword-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args,
    viewport: { width: 1400, height: 1000 },
  });
  mkdirSync(artifactsDir, { recursive: true });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
};
