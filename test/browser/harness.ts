import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { demoOperatorBanner, ensureDemoAttack, DEMO_OPERATOR } from '../../src/cli/demo-console.js';
import { ensureDemoPopulation } from '../../src/cli/seeding.js';
import { buildSettings } from '../../src/config/config.js';
import type { RawEnv } from '../../src/config/env.js';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';

/**
 * The console in a real browser: findguard as `npm start` runs it (the demo population, the
 * replayed attack, the demo operator), listening on 127.0.0.1, driven by Debian's chromium
 * through playwright-core.
 *
 * Plain HTTP is enough: Chromium counts http://127.0.0.1 and http://localhost as secure contexts
 * and keeps their Secure (and so `__Host-`) cookies, so the production cookie is tested as it is,
 * with no TLS listener and nothing weakened for tests.
 */

export const CHROMIUM = process.env.FINDGUARD_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
export const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));

/** WebGL (sigma) needs SwiftShader on a machine without a GPU. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--enable-unsafe-swiftshader'];

export interface ConsoleHarness {
  service: Service;
  url: string;
  browser: Browser;
  operator: { name: string; password: string; totpSecret: string };
  close(): Promise<void>;
}

function bannerValue(lines: string[], label: string): string {
  const line = lines.find((l) => l.trimStart().startsWith(`${label}:`));
  if (!line) throw new Error(`the demo banner has no "${label}" line`);
  return line.slice(line.indexOf(':') + 1).trim().split(/\s+/)[0]!;
}

export async function startConsole(): Promise<ConsoleHarness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'findguard-browser-'));
  const { config, secrets } = buildSettings({ dataDir, logLevel: 'silent', host: '127.0.0.1', port: '0' } as RawEnv, dataDir);
  // As `serve --demo` does: the attack replayed first, then the serving node on the real clock.
  await ensureDemoAttack(config, secrets, Date.now());
  const service = await createService(config, secrets, { logger: createLogger('silent') });
  await ensureDemoPopulation(service.ctx);
  // The credentials exactly as the banner prints them: the test signs in with what a newcomer reads.
  const banner = await demoOperatorBanner(service.ctx, secrets);
  const operator = { name: bannerValue(banner, 'name'), password: bannerValue(banner, 'password'), totpSecret: bannerValue(banner, 'TOTP secret') };
  if (operator.name !== DEMO_OPERATOR) throw new Error('unexpected demo operator name');
  const url = await service.app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    service,
    url,
    browser,
    operator,
    close: async () => {
      await browser.close();
      await service.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Pixels of an element, as drawn on screen, within `tolerance` of a colour, and the height of the
 * band they span (a flat line at zero spans a pixel or two; a drawn series more): read from a screenshot
 * (a WebGL canvas without preserveDrawingBuffer reads back blank, what is composited does not).
 */
export async function pixelsNear(page: Page, selector: string, rgb: [number, number, number], tolerance = 40): Promise<{ count: number; height: number }> {
  const png = await page.locator(selector).first().screenshot();
  // Runs in the page (a string: this project compiles without the DOM's types).
  const count = `(async ({ b64, rgb, tolerance }) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const g = canvas.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0, top = Infinity, bottom = -Infinity;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) <= tolerance) {
        n++;
        const y = Math.floor(i / 4 / canvas.width);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
    return { count: n, height: n ? bottom - top + 1 : 0 };
  })(${JSON.stringify({ b64: png.toString('base64'), rgb, tolerance })})`;
  return page.evaluate<{ count: number; height: number }>(count);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
