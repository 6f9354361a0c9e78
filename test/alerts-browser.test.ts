import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSettings } from '../src/config/config.js';
import type { RawEnv } from '../src/config/env.js';
import { listAudit } from '../src/incidents/index.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { totpCode } from '../src/operators/totp.js';
import { compilePolicy, DEFAULT_POLICY } from '../src/policy/index.js';
import { AlertReceiver } from './helpers/alert-receiver.js';
import { eventually } from './helpers/processes.js';
import { TEST_SCRYPT } from './helpers/operators.js';
import { chromiumAvailable, CHROMIUM } from './browser/harness.js';

/**
 * The console's Alerts page in Chromium, on the real clock: an admin sees the routes (never their
 * secrets) and presses "Send test alert"; the test alert reaches the local Slack and PagerDuty
 * stand-ins and the audit trail. A viewer is offered no button.
 */

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
if (!chromiumAvailable && !requireServices) console.warn(`\n*** ${CHROMIUM} not found: the alerts browser test is SKIPPED (CI installs chromium) ***\n`);
if (!chromiumAvailable && requireServices) throw new Error(`FINDGUARD_REQUIRE_SERVICES=1 but ${CHROMIUM} is missing`);

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const KEY = 'PDKEY-browser-0123456789';

(chromiumAvailable ? describe : describe.skip)('the Alerts page in a browser', { timeout: 90_000 }, () => {
  const receiver = new AlertReceiver();
  let dataDir: string;
  let service: Service;
  let browser: Browser;
  let url: string;
  const errors: string[] = [];

  beforeAll(async () => {
    await receiver.start();
    dataDir = mkdtempSync(join(tmpdir(), 'findguard-alerts-browser-'));
    const { config, secrets } = buildSettings({ dataDir, logLevel: 'silent', host: '127.0.0.1', port: '0' } as RawEnv, dataDir);
    const policy = compilePolicy(
      { ...structuredClone(DEFAULT_POLICY), alerts: { routes: [{ name: 'oncall', on: ['breaker.tripped', 'incident.clock-66h'], slack: { webhookUrlEnv: 'FINDGUARD_ALERT_SLACK' }, pagerduty: { routingKeyEnv: 'FINDGUARD_ALERT_PD', url: `${receiver.url}/pd` } }] } },
      'browser-alerts',
    );
    service = await createService(config, secrets, {
      logger: createLogger('silent'),
      policy,
      operators: { scrypt: TEST_SCRYPT },
      alerts: { secrets: { FINDGUARD_ALERT_SLACK: `${receiver.url}/slack`, FINDGUARD_ALERT_PD: KEY } },
    });
    url = await service.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    await receiver.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const signedIn = async (name: string, role: 'admin' | 'viewer'): Promise<Page> => {
    const password = `pw-${name}-correct-horse`;
    const made = await service.ctx.operators.add('cli', name, role, password);
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${url}/dashboard/sign-in`);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=password]', password);
    await page.fill('input[name=totp]', totpCode(made.totpSecret, Date.now()));
    await page.click('#sign-in button[type=submit]');
    await page.waitForURL('**/dashboard/overview');
    return page;
  };

  it('an admin sends a test alert from the route\'s button: Slack and PagerDuty receive it, the audit trail has it', async () => {
    const page = await signedIn('alerts-admin', 'admin');
    await page.goto(`${url}/dashboard/alerts`);
    const button = page.locator('#alert-routes button.test-alert[data-route="oncall"]');
    await button.waitFor().catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await page.locator('#page').textContent()}\n${errors.join('\n')}`);
    });
    const routes = await page.locator('#alert-routes').textContent();
    expect(routes).toContain('FINDGUARD_ALERT_SLACK');
    expect(routes).not.toContain(KEY);
    expect(routes).not.toContain(receiver.url);
    await button.click();
    await page.locator('#alert-recent td', { hasText: 'test (test)' }).first().waitFor();
    await eventually('the test alert at both sinks', () => receiver.at('/pd').length === 1 && receiver.at('/slack').length === 1);
    expect(receiver.at('/pd')[0]!.body).toMatchObject({ routing_key: KEY, event_action: 'trigger', dedup_key: 'findguard/test/oncall' });
    const audit = await listAudit(service.ctx.db.kysely, { subject: 'alert-route:oncall', limit: 1 });
    expect(audit[0]).toMatchObject({ action: 'alert.test', actor: { name: 'alerts-admin' }, tool: 'console' });
    await page.close();
  });

  it('a viewer sees the routes and no button; no script error or CSP violation anywhere', async () => {
    const page = await signedIn('alerts-viewer', 'viewer');
    await page.goto(`${url}/dashboard/alerts`);
    await page.locator('#alert-routes td', { hasText: 'oncall' }).first().waitFor();
    expect(await page.locator('button.test-alert').count()).toBe(0);
    await page.close();
    expect(errors).toEqual([]);
  });
});
