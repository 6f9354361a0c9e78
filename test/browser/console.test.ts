import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/operators/totp.js';
import { chromiumAvailable, CHROMIUM, pixelsNear, screenshot, SCREENSHOTS, startConsole, type ConsoleHarness } from './harness.js';

// The operator console's flows in Chromium against `npm start`'s demo (issue 16, Proof). Each flow
// saves a screenshot under test/browser/screenshots/.

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
if (!chromiumAvailable && !requireServices) console.warn(`\n*** ${CHROMIUM} not found: the browser tests are SKIPPED (CI installs chromium) ***\n`);
if (!chromiumAvailable && requireServices) throw new Error(`FINDGUARD_REQUIRE_SERVICES=1 but ${CHROMIUM} is missing`);

/** The series colours the pages draw with (overview.js, graph.js). */
const CALLS_BLUE: [number, number, number] = [36, 86, 166];
const ACCOUNT_RED: [number, number, number] = [209, 73, 91];

// Waits use locators, never page.waitForFunction with a string: when its first check fails, Playwright
// polls the string with eval() inside the page, which the console's CSP (no 'unsafe-eval') refuses, and
// the refusal then shows up as a CSP violation in the last test.

// Generous per-test time: in the whole suite the browser shares two cores with every other test file.
(chromiumAvailable ? describe : describe.skip)('operator console in a browser', { timeout: 90_000 }, () => {
  let h: ConsoleHarness;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    h = await startConsole();
    page = await h.browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  /** A new operator signed in through the form, in a browser context of its own (the caller closes it). */
  async function signedInAs(name: string, role: 'viewer' | 'analyst') {
    const password = `${name}-password-0123`;
    const { operator, totpSecret } = await h.service.ctx.operators.add('cli', name, role, password);
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const signed = await context.newPage();
    signed.on('pageerror', (e) => errors.push(e.message));
    await signed.goto(`${h.url}/dashboard/sign-in`);
    await signed.fill('input[name=name]', name);
    await signed.fill('input[name=password]', password);
    await signed.fill('input[name=totp]', totpCode(totpSecret, Date.now()));
    await signed.click('#sign-in button[type=submit]');
    await signed.waitForURL('**/dashboard/overview');
    return { context, page: signed, operatorId: operator.id };
  }

  it('signs in with name, password and the current TOTP code', async () => {
    await page.goto(`${h.url}/dashboard/overview`);
    // Signed out: the page sends the browser to the sign-in form.
    await page.waitForURL('**/dashboard/sign-in');
    await page.fill('input[name=name]', h.operator.name);
    await page.fill('input[name=password]', h.operator.password);
    await page.fill('input[name=totp]', totpCode(h.operator.totpSecret, Date.now()));
    await screenshot(page, '01-sign-in');
    await page.click('#sign-in button[type=submit]');
    await page.waitForURL('**/dashboard/overview');
    expect(await page.textContent('#who')).toBe('demo (admin)');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === '__Host-fg_session');
    expect(session).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict', path: '/' });
  });

  it('draws the overview charts', async () => {
    await page.goto(`${h.url}/dashboard/overview?window=day`);
    await page.locator('#status').waitFor({ state: 'hidden' });
    // Four charts; a chart with no series in the window (no refusal of some kind) says so instead.
    expect(await page.locator('.chart').count()).toBe(4);
    expect(await page.locator('.chart .uplot canvas').count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, '02-overview');
    // The replayed attack's calls lie within the day: the series rise off the zero line. When every
    // call of a round asks the same count of new numbers, the two series have one shape and the new
    // numbers (drawn last, on their own axis) cover the calls: either colour shows the rise.
    const chart = '[data-chart="Discovery calls and new numbers"] .uplot canvas';
    const drawn = [await pixelsNear(page, chart, CALLS_BLUE), await pixelsNear(page, chart, ACCOUNT_RED)];
    expect(Math.max(...drawn.map((d) => d.count))).toBeGreaterThan(20);
    expect(Math.max(...drawn.map((d) => d.height))).toBeGreaterThan(20);
  });

  it('opens the demo campaign and draws its graph', async () => {
    await page.goto(`${h.url}/dashboard/campaigns`);
    const link = page.locator('#campaign-list a[href^="/dashboard/campaigns/"]').first();
    await link.waitFor();
    await link.click();
    await page.waitForSelector('#graph[data-drawn="true"] canvas');
    await page.waitForTimeout(500);
    // Accounts are drawn in red on a pale background: a blank canvas has none.
    expect((await pixelsNear(page, '#graph', ACCOUNT_RED)).count).toBeGreaterThan(30);
    const csv = await page.locator('#exposures-csv').getAttribute('href');
    const res = await page.request.get(`${h.url}${csv}`);
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toContain('text/csv');
    expect((await res.text()).trim().split('\n').length).toBeGreaterThan(1);
    await screenshot(page, '03-campaign');
  });

  it('reinstates an account with a reason and finds it in the audit page', async () => {
    const suspended = await h.service.ctx.db.kysely.selectFrom('accounts').select('id').where('fg_status', '=', 'suspended').orderBy('id').executeTakeFirstOrThrow();
    await page.goto(`${h.url}/dashboard/accounts/${suspended.id}`);
    await page.waitForSelector('#reinstate');
    const reason = `false positive checked by the browser test ${Date.now()}`;
    await page.fill('#reinstate input[name=reason]', reason);
    await page.click('#reinstate button[type=submit]');
    await page.locator('#reinstate .result', { hasText: 'Reinstated' }).waitFor();
    await screenshot(page, '04-reinstate');
    const row = await h.service.ctx.db.kysely.selectFrom('accounts').select('fg_status').where('id', '=', suspended.id).executeTakeFirstOrThrow();
    expect(row.fg_status).not.toBe('suspended');

    await page.goto(`${h.url}/dashboard/audit`);
    const entry = page.locator(`#audit-list tr[data-subject="account:${suspended.id}"]`, { hasText: reason });
    await entry.first().waitFor();
    expect(await entry.first().textContent()).toContain('demo');
    await screenshot(page, '05-audit');
  });

  it('adds a bulk decision as one batch and undoes it', async () => {
    await page.goto(`${h.url}/dashboard/decisions?active=true`);
    const picks = page.locator('#decision-list input.pick');
    await picks.first().waitFor();
    expect(await picks.count()).toBeGreaterThanOrEqual(2);
    await picks.nth(0).check();
    await picks.nth(1).check();
    await page.selectOption('#bulk-decision select[name=action]', 'throttle');
    await page.selectOption('#bulk-decision select[name=durationSeconds]', '14400');
    await page.fill('#bulk-decision input[name=reason]', 'throttle these two for 4 h (browser test)');
    await page.click('#bulk-decision button[type=submit]');
    const panel = page.locator('#batches form.batch').first();
    await panel.waitFor();
    const batchId = await panel.getAttribute('data-batch');
    expect(batchId).toBeTruthy();
    const standing = await h.service.ctx.db.kysely.selectFrom('decisions').select(['id', 'lifted_at']).where('batch_id', '=', batchId!).execute();
    expect(standing.length).toBe(2);
    expect(standing.every((d) => d.lifted_at === null)).toBe(true);
    await screenshot(page, '06-bulk-decision');

    await panel.locator('input[name=reason]').fill('undo the browser test batch');
    // The page reloads itself 600 ms after an undo; the next test's goto must not race that reload.
    const reloaded = page.waitForEvent('load');
    await panel.locator('button[type=submit]').click();
    await page.locator('#batches form.batch .result', { hasText: 'Undone' }).first().waitFor();
    await reloaded;
    const after = await h.service.ctx.db.kysely.selectFrom('decisions').select('lifted_at').where('batch_id', '=', batchId!).execute();
    expect(after.every((d) => d.lifted_at !== null)).toBe(true);
    await screenshot(page, '07-bulk-undone');
  });

  it('lists a trial decision as "would", and filters "would" decisions in and out', async () => {
    await page.goto(`${h.url}/dashboard/decisions?active=true`);
    await page.waitForSelector('#add-decision');
    await page.selectOption('#add-decision select[name=scope]', 'country');
    await page.fill('#add-decision input[name=subject]', 'AQ');
    await page.selectOption('#add-decision select[name=action]', 'suspend');
    await page.fill('#add-decision input[name=reason]', 'trial: what blocking AQ would do (browser test)');
    await page.check('#add-decision input[name=shadow]');
    const reloaded = page.waitForEvent('load');
    await page.click('#add-decision button[type=submit]');
    await page.locator('#add-decision .result', { hasText: 'Added' }).waitFor();
    await reloaded;
    const row = await h.service.ctx.db.kysely.selectFrom('decisions').select(['id', 'shadow']).where('scope', '=', 'country').where('subject', '=', 'AQ').executeTakeFirstOrThrow();
    expect(Number(row.shadow)).toBe(1);

    await page.goto(`${h.url}/dashboard/decisions?active=true&shadow=true`);
    const would = page.locator(`#decision-list tr.would[data-id="${row.id}"]`);
    await would.waitFor();
    expect(await would.locator('.pill').textContent()).toBe('would');
    expect(await page.locator('#decision-list tbody tr:not(.would)').count()).toBe(0);
    await screenshot(page, '07b-would-decisions');
    await page.goto(`${h.url}/dashboard/decisions?active=true&shadow=false`);
    await page.locator('#decision-list tbody tr').first().waitFor();
    expect(await page.locator('#decision-list tr.would').count()).toBe(0);
  });

  it("changes an operator's role on the operators page, and finds it in the audit page", async () => {
    const made = await h.service.ctx.operators.add('cli', 'promote1', 'viewer', 'promote-password-0123');
    // One added by the demo admin through the admin API: the admin was handed its sign-in, and the page says so.
    const demo = (await h.service.ctx.operators.byName(h.operator.name))!;
    await h.service.ctx.operators.add({ principal: { id: demo.id, name: demo.name, role: 'admin', via: 'password+totp' }, ctx: { from: null, tool: 'api' } }, 'handed1', 'analyst');
    await page.goto(`${h.url}/dashboard/operators`);
    await page.locator('#operator-list tr[data-name="handed1"]', { hasText: `held by ${demo.name}: cannot approve` }).waitFor();
    expect(await page.locator('#operator-list tr[data-name="promote1"]', { hasText: 'held by' }).count()).toBe(0);
    const form = page.locator('#operator-list tr[data-name="promote1"] form.set-role');
    await form.waitFor();
    // Nobody changes their own role: the demo operator's row offers no form.
    expect(await page.locator('#operator-list tr[data-name="demo"] form.set-role').count()).toBe(0);
    await form.locator('select[name=role]').selectOption('analyst');
    await form.locator('input[name=reason]').fill('joins the analysts (browser test)');
    await form.locator('button[type=submit]').click();
    await form.locator('.result', { hasText: 'Now analyst' }).waitFor();
    expect((await h.service.ctx.operators.byId(made.operator.id))!.role).toBe('analyst');
    await screenshot(page, '13-operator-role');
    await page.goto(`${h.url}/dashboard/audit?subject=${encodeURIComponent(`operator:${made.operator.id}`)}`);
    await page.locator('#audit-list tr[data-action="operator.set-role"]', { hasText: 'joins the analysts' }).waitFor();
  });

  it('runs a what-if of a candidate policy', async () => {
    await page.goto(`${h.url}/dashboard/policy`);
    await page.waitForSelector('#what-if textarea');
    await page.fill('#what-if textarea[name=policy]', 'signal-like');
    await page.click('#what-if button[type=submit]');
    await page.locator('#what-if .result', { hasText: 'Done' }).waitFor({ timeout: 60_000 });
    expect((await page.textContent('#what-if-result'))!.length).toBeGreaterThan(20);
    // The candidate's abuse engine was replayed too, beside its limits.
    await page.locator('#what-if-engine', { hasText: 'campaign accounts it would suspend' }).waitFor();
    await screenshot(page, '08-what-if');
  });

  it('looks an account up by handle without the handle in any URL', async () => {
    const account = await h.service.ctx.db.kysely.selectFrom('accounts').select(['id', 'handle']).where('id', '=', 'demo-scraper-01').executeTakeFirstOrThrow();
    const urls: string[] = [];
    const onRequest = (r: { url(): string }) => urls.push(r.url());
    page.on('request', onRequest);
    try {
      await page.goto(`${h.url}/dashboard/accounts`);
      await page.waitForSelector('#account-lookup');
      await page.selectOption('#account-lookup select[name=by]', 'handle');
      await page.fill('#account-lookup input[name=q]', `@${account.handle}`);
      await page.click('#account-lookup button[type=submit]');
      await page.waitForURL(`**/dashboard/accounts/${account.id}`);
      // The page's status can read hidden before its fetch starts: wait for the account itself.
      await page.locator('main', { hasText: `@${account.handle}` }).waitFor();
    } finally {
      page.off('request', onRequest);
    }
    expect(await page.textContent('main')).toContain(`@${account.handle}`);
    expect(urls.some((u) => u.endsWith('/admin/v1/accounts/search'))).toBe(true);
    expect(urls.filter((u) => u.includes(account.handle))).toEqual([]);
    await screenshot(page, '09-account-by-handle');
  });

  it('shows the campaign list and the webhook delivery log', async () => {
    await page.goto(`${h.url}/dashboard/campaigns?status=open`);
    await page.locator('#campaign-list tbody tr').first().waitFor();
    await screenshot(page, '10-campaigns');
    await page.goto(`${h.url}/dashboard/webhooks`);
    await page.locator('#status').waitFor({ state: 'hidden' });
    await screenshot(page, '11-webhooks');
  });

  it('offers a viewer no action: no forms to add, bulk, lift, reinstate or run a what-if', async () => {
    const { context, page: viewer } = await signedInAs('viewer1', 'viewer');
    try {
      await viewer.goto(`${h.url}/dashboard/decisions`);
      await viewer.locator('#decision-list table').waitFor();
      expect(await viewer.locator('#add-decision, #bulk-decision, #decision-list input.pick, #decision-list button.lift').count()).toBe(0);
      const suspended = await h.service.ctx.db.kysely.selectFrom('accounts').select('id').where('fg_status', '=', 'suspended').executeTakeFirstOrThrow();
      await viewer.goto(`${h.url}/dashboard/accounts/${suspended.id}`);
      await viewer.locator('#status').waitFor({ state: 'hidden' });
      expect(await viewer.locator('#reinstate').count()).toBe(0);
      await viewer.goto(`${h.url}/dashboard/policy`);
      await viewer.locator('#status').waitFor({ state: 'hidden' });
      expect(await viewer.locator('#what-if').count()).toBe(0);
      await viewer.screenshot({ path: `${SCREENSHOTS}12-viewer-policy.png`, fullPage: false });
    } finally {
      await context.close();
    }
  });

  it("shows a refusal's code and message, and sends an operator whose session ended to the sign-in page", async () => {
    const { context, page: analyst, operatorId } = await signedInAs('analyst1', 'analyst');
    try {
      await analyst.goto(`${h.url}/dashboard/decisions`);
      const form = analyst.locator('#add-decision');
      await form.waitFor();
      // An address the API refuses: the page shows its code and message, as the API wrote them.
      await analyst.selectOption('#add-decision select[name=scope]', 'ip');
      await analyst.fill('#add-decision input[name=subject]', 'not-an-address');
      await analyst.fill('#add-decision input[name=reason]', 'a refusal, shown (browser test)');
      await analyst.click('#add-decision button[type=submit]');
      const result = form.locator('.result.error');
      await result.waitFor();
      expect(await result.textContent()).toMatch(/^invalid_request: \S/);
      await screenshot(analyst, '13-refusal-shown');
      // The session ends while the page is open (revoked elsewhere): the next action signs in again.
      await h.service.ctx.db.kysely.updateTable('operator_sessions').set({ revoked_at: Date.now() }).where('operator_id', '=', operatorId).execute();
      await analyst.fill('#add-decision input[name=subject]', '203.0.113.77');
      await analyst.click('#add-decision button[type=submit]');
      await analyst.waitForURL('**/dashboard/sign-in');
      const added = await h.service.ctx.db.kysely.selectFrom('decisions').select('id').where('subject', '=', '203.0.113.77').execute();
      expect(added).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('raised no script error and no CSP violation on any page', () => {
    // The one expected refusal: the first page, signed out, asks for the session and is told 401.
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
  });
});
