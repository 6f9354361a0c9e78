import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { listOutbox, verifyWebhookSignature, WebhookDeliverer, type WebhookEnvelope } from '../src/incidents/index.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { Receiver } from './helpers/receiver.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

const SECRET = 'webhook-secret-0123456789abcdef';

/** Jitter pinned to the middle: 0.5 makes each delay exactly 3/4 of its nominal value. */
const midRandom = { float: () => 0.5 };

describeEachDialect('webhook delivery', (dialect) => {
  let svc: TestService;
  const app = new Receiver();
  beforeAll(async () => {
    await app.start();
    // No FINDGUARD_WEBHOOK_URL: events stay in the outbox; each test drives its own deliverer.
    svc = await startTestService(dialect, { policy: 'none' });
  });
  afterAll(async () => {
    await svc.stop();
    await app.stop();
  });
  afterEach(async () => {
    // Each test starts from an empty outbox.
    await svc.ctx.db.kysely.deleteFrom('webhook_outbox').execute();
    app.received.length = 0;
  });

  function deliverer(path: string, opts: { maxAttempts?: number; timeoutMs?: number } = {}): WebhookDeliverer {
    return new WebhookDeliverer({
      db: svc.ctx.db.kysely,
      url: app.url(path),
      secret: SECRET,
      clock: svc.clock,
      random: { ...svc.ctx.random, ...midRandom },
      logger: createLogger('silent'),
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      timeoutMs: 5000,
      ...opts,
    });
  }

  it('without a URL keeps events in the outbox', async () => {
    expect(svc.ctx.incidents.deliverer).toBeUndefined();
    await mirrorAccount(svc, 'quiet', []);
    await svc.ctx.incidents.enforcer.suspend(['quiet'], { actor: 'engine', reason: 'r', evidence: {} });
    expect(await listOutbox(svc.ctx.db.kysely, { state: 'pending' })).toHaveLength(1);
  });

  it('retries with backoff after failures, with the same id and body, signed, then never again', async () => {
    await mirrorAccount(svc, 'retry-me', []);
    await svc.ctx.incidents.enforcer.suspend(['retry-me'], { actor: 'engine', reason: 'r', evidence: {} });
    const [row] = await listOutbox(svc.ctx.db.kysely);
    app.scripts.set('/flaky', [500, 503]);
    const d = deliverer('/flaky');
    const start = svc.clock.now();

    expect(await d.deliverDue()).toEqual({ delivered: 0, failed: 1, gaveUp: 0, skipped: 0 });
    let [state] = await listOutbox(svc.ctx.db.kysely);
    expect(state).toMatchObject({ attempts: 1, next_attempt_at: start + 750, delivered_at: null, last_error: 'HTTP 500' });
    // Not due yet: nothing is sent.
    svc.clock.advance(749);
    expect(await d.deliverDue()).toEqual({ delivered: 0, failed: 0, gaveUp: 0, skipped: 0 });
    expect(app.received).toHaveLength(1);

    svc.clock.advance(1);
    expect((await d.deliverDue()).failed).toBe(1);
    [state] = await listOutbox(svc.ctx.db.kysely);
    // Nominal delay doubled to 2 s, three quarters of it with the pinned jitter.
    expect(state).toMatchObject({ attempts: 2, next_attempt_at: svc.clock.now() + 1500, last_error: 'HTTP 503' });

    svc.clock.advance(1500);
    expect((await d.deliverDue()).delivered).toBe(1);
    [state] = await listOutbox(svc.ctx.db.kysely);
    expect(state).toMatchObject({ attempts: 3, next_attempt_at: null, delivered_at: svc.clock.now(), last_error: null });

    expect(app.received).toHaveLength(3);
    for (const r of app.received) {
      expect(r.headers['findguard-event-id']).toBe(row!.id);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body).toBe(row!.payload);
      expect(verifyWebhookSignature(SECRET, r.headers['findguard-signature'] as string, r.body, svc.clock.now())).toBe(true);
    }
    const env = JSON.parse(app.received[0]!.body) as WebhookEnvelope<'account.suspended'>;
    expect(env).toMatchObject({ id: row!.id, type: 'account.suspended', data: { accountId: 'retry-me' } });

    // Delivered: no further sends however long we wait.
    svc.clock.advance(24 * 3600_000);
    expect(await d.deliverDue()).toEqual({ delivered: 0, failed: 0, gaveUp: 0, skipped: 0 });
    expect(app.received).toHaveLength(3);
  });

  it('gives up after maxAttempts and keeps the row for inspection', async () => {
    await mirrorAccount(svc, 'doomed', []);
    await svc.ctx.incidents.enforcer.suspend(['doomed'], { actor: 'engine', reason: 'r', evidence: {} });
    app.scripts.set('/down', [500, 500, 500]);
    const d = deliverer('/down', { maxAttempts: 2 });
    expect((await d.deliverDue()).failed).toBe(1);
    svc.clock.advance(60_000);
    expect((await d.deliverDue()).gaveUp).toBe(1);
    svc.clock.advance(24 * 3600_000);
    expect((await d.deliverDue()).gaveUp).toBe(0);
    const failed = await listOutbox(svc.ctx.db.kysely, { state: 'failed' });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ attempts: 2, delivered_at: null, next_attempt_at: null, last_error: 'HTTP 500' });
    expect(app.received).toHaveLength(2);
  });

  it('treats timeouts, refused connections and redirects as failures', async () => {
    await mirrorAccount(svc, 'unreachable', []);
    await svc.ctx.incidents.enforcer.suspend(['unreachable'], { actor: 'engine', reason: 'r', evidence: {} });
    const spare = new Receiver();
    await spare.start();
    await spare.stop();
    const closed = new WebhookDeliverer({ db: svc.ctx.db.kysely, url: spare.url('/hook'), secret: SECRET, clock: svc.clock, random: svc.ctx.random, logger: createLogger('silent') });
    expect((await closed.deliverDue()).failed).toBe(1);
    expect((await listOutbox(svc.ctx.db.kysely))[0]!.last_error).toBe('ECONNREFUSED');
    svc.clock.advance(3600_000);
    app.scripts.set('/moved', [302]);
    expect((await deliverer('/moved').deliverDue()).failed).toBe(1);
    expect((await listOutbox(svc.ctx.db.kysely))[0]!.last_error).toBe('HTTP 302');
    svc.clock.advance(3600_000);
    app.scripts.set('/hang', [0]);
    expect((await deliverer('/hang', { timeoutMs: 200 }).deliverDue()).failed).toBe(1);
    expect((await listOutbox(svc.ctx.db.kysely))[0]!.last_error).toBe('timeout after 200 ms');
  });

  it('delivers each event once when several deliverers poll together', async () => {
    for (const id of ['many-1', 'many-2', 'many-3', 'many-4']) await mirrorAccount(svc, id, []);
    await svc.ctx.incidents.enforcer.suspend(['many-1', 'many-2', 'many-3', 'many-4'], { actor: 'engine', reason: 'r', evidence: {} });
    const rounds = await Promise.all([deliverer('/ok').deliverDue(), deliverer('/ok').deliverDue(), deliverer('/ok').deliverDue()]);
    expect(rounds.reduce((s, r) => s + r.delivered, 0)).toBe(4);
    const ids = app.received.map((r) => r.headers['findguard-event-id']);
    expect(new Set(ids).size).toBe(4);
    expect(ids).toHaveLength(4);
    expect(await listOutbox(svc.ctx.db.kysely, { state: 'delivered' })).toHaveLength(4);
  });
});

describeEachDialect('webhook delivery in the service', (dialect) => {
  const app = new Receiver();
  let svc: TestService;
  beforeAll(async () => {
    await app.start();
    svc = await startTestService(dialect, { policy: 'none', webhookUrl: app.url('/hooks').href, webhookSecret: SECRET });
  });
  afterAll(async () => {
    await svc.stop();
    await app.stop();
  });

  it('sends a suspension as soon as it commits', async () => {
    expect(svc.ctx.incidents.deliverer).toBeDefined();
    await mirrorAccount(svc, 'prompt', []);
    await svc.ctx.incidents.enforcer.suspend(['prompt'], { actor: 'engine', reason: 'r', evidence: {} });
    await expect.poll(() => app.received.length, { timeout: 5000 }).toBe(1);
    const r = app.received[0]!;
    expect(JSON.parse(r.body)).toMatchObject({ type: 'account.suspended', data: { accountId: 'prompt' } });
    expect(verifyWebhookSignature(SECRET, r.headers['findguard-signature'] as string, r.body, T0)).toBe(true);
    await expect.poll(async () => (await listOutbox(svc.ctx.db.kysely, { state: 'delivered' })).length).toBe(1);
  });
});
