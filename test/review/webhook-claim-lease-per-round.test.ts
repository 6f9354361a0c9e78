import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebhookDeliverer } from '../../src/incidents/index.js';
import { enqueueWebhook } from '../../src/incidents/outbox.js';
import { createLogger } from '../../src/logger.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Found in review (fixed): WebhookDeliverer.deliverDue (src/incidents/webhooks.ts) read `now` once per
 * round and claimed every row of the batch with `next_attempt_at = now + timeout + 30 s`. Rows are
 * sent one after another, so with a slow endpoint (10 s timeout, 50 rows a batch) a row claimed
 * late in the round gets a lease that has already run out: another node's deliverer finds it due
 * at once and sends it too (and both count an attempt, so a row gives up after half its tries).
 */
describeEachDialect('webhook lease taken late in a round', (dialect) => {
  let svc: TestService;
  let server: Server;
  const seen: string[] = [];
  let onThird: (() => void) | undefined;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    // A slow endpoint: each request takes 25 s of the nodes' clock.
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push(String(req.headers['findguard-event-id']));
        svc.clock.advance(25_000);
        if (seen.length === 3) onThird?.();
        setTimeout(() => res.writeHead(200).end('ok'), seen.length === 3 ? 500 : 0);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await svc.stop();
  });

  it('no event is sent twice by two nodes', async () => {
    const db = svc.ctx.db.kysely;
    for (let i = 0; i < 3; i++) {
      await enqueueWebhook(db, 'account.reinstated', { accountId: `a${i}`, actionId: `act${i}`, at: new Date(svc.clock.now()).toISOString(), actor: 'ops', reason: 'r', reverses: [] }, svc.clock.now(), svc.ctx.random);
    }
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
    const node = () => new WebhookDeliverer({ db, url, secret: 'test-secret-0123456789abcdef', clock: svc.clock, random: svc.ctx.random, logger: createLogger('silent'), timeoutMs: 10_000 });
    const a = node();
    const b = node();
    let other: Promise<unknown> | undefined;
    onThird = () => {
      other = b.deliverDue();
    };
    await a.deliverDue();
    await other;
    const counts = new Map<string, number>();
    for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
  });
});
