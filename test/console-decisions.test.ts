import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Actor } from '../src/console/actor.js';
import { ConsoleDecisions } from '../src/console/decisions.js';
import type { Db } from '../src/db/dialect.js';
import { listAudit } from '../src/incidents/audit.js';
import { DecisionCache, databaseSource, EXPIRY_SKEW_MS } from '../src/incidents/decision-cache.js';
import { createLogger } from '../src/logger.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';
import { insertAccounts, openTestDb } from './helpers/console.js';
import { describeEachDialect, T0 } from './helpers/service.js';

/**
 * Operator decisions (src/console/decisions.ts) on both databases: what is added reaches the
 * decision cache the request path asks (so it is enforced), what is lifted leaves it, a bulk
 * action is undone as one, a shadow decision is listed as "would" and never enforced, and every
 * change has its audit entry.
 */

const HOUR = 3_600_000;
const alice: Actor = { id: 'op_alice', name: 'alice', role: 'analyst', via: 'token', from: '192.0.2.9', tool: 'api' };
const origin = { ip: '203.0.113.7', subnet: '203.0.113.0/24', asn: 64500, country: 'NL', deviceId: 'dev-1' };

describeEachDialect('console decisions', (dialect) => {
  let handle: { db: Db; close(): Promise<void> };
  let clock: ManualClock;
  let cache: DecisionCache;
  let decisions: ConsoleDecisions;
  beforeAll(async () => {
    handle = await openTestDb(dialect);
    clock = new ManualClock(T0);
    cache = new DecisionCache({ source: databaseSource(handle.db.kysely), clock, logger: createLogger('silent'), pollMs: 3_600_000 });
    await cache.start();
    decisions = new ConsoleDecisions({ db: handle.db.kysely, clock, random: new SeededRandom(7), cache });
    await insertAccounts(handle.db.kysely, ['acct-1'], T0 - 100 * 24 * HOUR);
  });
  afterAll(async () => {
    await cache?.close();
    await handle?.close();
  });

  it('an ASN throttle for 4 h reaches the cache at once, is listed, audited in the same change, and expires by itself', async () => {
    const d = await decisions.add(alice, { scope: 'asn', subject: 'AS64500', action: 'throttle', reason: 'scraping from a VPS range', durationSeconds: 4 * 3600 });
    expect(d).toMatchObject({ scope: 'asn', subject: '64500', action: 'throttle', source: 'operator', actor: 'alice', expiresAt: T0 + 4 * HOUR, status: 'active', shadow: false });
    expect(cache.originStanding(origin, T0)?.id).toBe(d.id);
    expect(cache.originStanding({ ...origin, asn: 64501 }, T0)).toBeUndefined();
    const listed = await decisions.list({ scope: 'asn', active: true });
    expect(listed.items.map((x) => x.id)).toEqual([d.id]);
    const [entry] = await listAudit(handle.db.kysely, { subject: `decision:${d.id}`, limit: 5 });
    expect(entry).toMatchObject({ action: 'decision.add', reason: 'scraping from a VPS range', tool: 'api', from: '192.0.2.9', actor: { id: 'op_alice', name: 'alice', role: 'analyst' } });
    // Ended on every node within EXPIRY_SKEW_MS of its expiry, never before it.
    expect(cache.originStanding(origin, T0 + 4 * HOUR)?.id).toBe(d.id);
    expect(cache.originStanding(origin, T0 + 4 * HOUR + EXPIRY_SKEW_MS)).toBeUndefined();
    expect((await decisions.list({ scope: 'asn', active: false, subject: '64500' })).items).toEqual([]);
    clock.set(T0 + 4 * HOUR);
    expect((await decisions.list({ scope: 'asn', active: false })).items.map((x) => [x.id, x.status])).toEqual([[d.id, 'expired']]);
    clock.set(T0);
    await decisions.lift(alice, d.id, 'done');
  });

  it('lifting takes it out of the cache; lifting twice is a conflict; a subject is read in the form calls carry', async () => {
    const d = await decisions.add(alice, { scope: 'subnet', subject: '203.0.113.77/24', action: 'suspend', reason: 'block the /24' });
    expect(d.subject).toBe('203.0.113.0/24');
    expect(cache.originStanding(origin, T0)?.action).toBe('suspend');
    const lifted = await decisions.lift(alice, d.id, 'false positive');
    expect(lifted).toMatchObject({ status: 'lifted', liftedBy: 'alice', liftReason: 'false positive' });
    expect(cache.originStanding(origin, T0)?.action).not.toBe('suspend');
    await expect(decisions.lift(alice, d.id, 'again')).rejects.toMatchObject({ code: 'conflict' });
    await expect(decisions.add(alice, { scope: 'ip', subject: 'not-an-ip', action: 'throttle', reason: 'x' })).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(decisions.add(alice, { scope: 'account', subject: 'acct-1', action: 'suspend', reason: 'x' })).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(decisions.add(alice, { scope: 'account', subject: 'nobody', action: 'throttle', reason: 'x' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(decisions.add(alice, { scope: 'country', subject: 'NL', action: 'throttle', reason: ' ' })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('a bulk action carries one batch id, a shadow item is listed as would and never enforced, and undo lifts the batch as one', async () => {
    const { batchId, decisions: made } = await decisions.bulk(
      alice,
      [
        { scope: 'ip', subject: '203.0.113.7', action: 'challenge' },
        { scope: 'device', subject: 'dev-1', action: 'throttle', durationSeconds: 3600 },
        { scope: 'country', subject: 'nl', action: 'suspend', shadow: true },
        { scope: 'account', subject: 'acct-1', action: 'challenge' },
      ],
      'campaign 42 infrastructure',
    );
    expect(made.map((d) => [d.scope, d.subject, d.status, d.batchId])).toEqual([
      ['ip', '203.0.113.7', 'active', batchId],
      ['device', 'dev-1', 'active', batchId],
      ['country', 'NL', 'would', batchId],
      ['account', 'acct-1', 'active', batchId],
    ]);
    // The strongest enforced one: the challenge on the address; the country block is only a trial.
    expect(cache.originStanding(origin, T0)?.action).toBe('challenge');
    expect(cache.standing('acct-1', { createdAt: T0 - HOUR }, T0)?.action).toBe('challenge');
    expect((await decisions.list({ batchId })).items).toHaveLength(4);
    const [bulkEntry] = await listAudit(handle.db.kysely, { subject: `batch:${batchId}`, limit: 5 });
    expect(bulkEntry).toMatchObject({ action: 'decision.bulk', batchId, reason: 'campaign 42 infrastructure' });

    expect(await decisions.undoBatch(alice, batchId, 'wrong cluster')).toEqual({ batchId, lifted: 4 });
    expect(cache.originStanding(origin, T0)).toBeUndefined();
    expect(cache.standing('acct-1', { createdAt: T0 - HOUR }, T0)).toBeUndefined();
    expect((await decisions.list({ batchId })).items.every((d) => d.status === 'lifted')).toBe(true);
    const [undoEntry] = await listAudit(handle.db.kysely, { subject: `batch:${batchId}`, limit: 1 });
    expect(undoEntry).toMatchObject({ action: 'batch.undo', reason: 'wrong cluster' });
    await expect(decisions.undoBatch(alice, 'bat_nothing', 'x')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('another node learns of an operator decision from the table', async () => {
    const other = new DecisionCache({ source: databaseSource(handle.db.kysely), clock, logger: createLogger('silent'), pollMs: 3_600_000 });
    try {
      await other.start();
      const d = await decisions.add(alice, { scope: 'country', subject: 'NL', action: 'throttle', reason: 'surge', durationSeconds: 600 });
      expect(other.originStanding(origin, T0)).toBeUndefined();
      await other.refresh();
      expect(other.originStanding(origin, T0)?.id).toBe(d.id);
      await decisions.lift(alice, d.id, 'over');
      await other.refresh();
      expect(other.originStanding(origin, T0)).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});
