import { afterEach, expect, it } from 'vitest';
import { isLookupEvent, type LookupEvent } from '../src/abuse/events.js';
import { EventPipeline, fromRow, type EventHandler } from '../src/abuse/pipeline.js';
import { compilePolicy, type Policy } from '../src/policy/index.js';
import { ipIntelFromRanges } from '../src/net/index.js';
import { makeEvent } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Lookup events on the embedded default (in-process bus): one per discovery call the limits
 * decided, with the fields the abuse engine needs and never a full phone number.
 */

const DAY = 86_400_000;
const HOME_IP = '198.51.100.7';
const intel = ipIntelFromRanges([{ cidr: '198.51.100.0/24', country: 'GB', asn: 64501, asName: 'Example Broadband' }]);

const POLICY: Policy = {
  name: 'events',
  tiers: [{ name: 'standard' }],
  challenge: { difficulty: { default: 4 }, ttl: '1m' },
  layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 10, refill: 10, per: '1h', challengeBelow: 0.5 } } }],
};

/** German mobile numbers in distinct blocks (the last 4 digits vary within a block). */
const num = (block: number, line: number) => `+49151${2000 + block}${String(line).padStart(4, '0')}`;
const blockOf = (block: number) => `+49151${2000 + block}`;
/** num(2, 3) as a caller might type it. */
const NATIONAL = '0151 2002 0003';
const FINDABLE = num(1, 1);
const ALL_NUMBERS = [FINDABLE, num(1, 2), num(2, 3), num(3, 4), num(4, 5), num(4, 6), num(5, 7), ...Array.from({ length: 7 }, (_, i) => num(6, 10 + i))];

describeEachDialect('lookup events (in-process bus)', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  async function start(env: Record<string, string> = {}) {
    svc = await startTestService(dialect, { trustedProxies: '127.0.0.1', ...env }, { policy: compilePolicy(POLICY), ipIntel: intel });
    await mirrorAccount(svc, 'findable', [{ value: FINDABLE, purposes: ['discovery'] }, { kind: 'email', value: 'found@example.com', purposes: ['discovery'] }]);
    for (const id of ['alice', 'bob']) await mirrorAccount(svc, id, [], { createdAt: new Date(T0 - 30 * DAY).toISOString(), phoneRegion: 'DE' });
  }

  async function call(account: string, path: 'sync' | 'lookup', payload: Record<string, unknown>, headers: Record<string, string> = {}) {
    svc.clock.advance(1000);
    return svc.app.inject({
      method: 'POST',
      url: `/v1/discovery/${path}`,
      remoteAddress: '127.0.0.1',
      headers: { authorization: `Bearer ${await svc.tokenFor(account)}`, 'x-forwarded-for': HOME_IP, ...headers },
      payload,
    });
  }

  async function storedEvents(): Promise<LookupEvent[]> {
    expect(await svc.ctx.events.flush()).toBe(true);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().orderBy('at').execute();
    return rows.map(fromRow);
  }

  it('emits an event for allowed, challenged and refused calls, with blocks and never a full number', async () => {
    await start();
    const synced = await call('alice', 'sync', { contacts: [FINDABLE, num(1, 2), NATIONAL, num(3, 4), 'not a number', FINDABLE], region: 'DE' }, { 'x-device-id': 'dev-1' });
    expect(synced.statusCode).toBe(200);
    expect((await call('alice', 'sync', { contacts: [num(4, 5), num(4, 6)] })).statusCode).toBe(428);
    expect((await call('alice', 'sync', { contacts: ALL_NUMBERS.slice(7) })).statusCode).toBe(429);
    expect((await call('bob', 'lookup', { phone: FINDABLE })).json().match).toMatchObject({ accountId: 'findable' });
    expect((await call('bob', 'lookup', { email: 'found@example.com' })).statusCode).toBe(200);
    const first = await call('bob', 'sync', { contacts: [num(5, 7)] });
    const again = await call('bob', 'sync', { contacts: [num(2, 3)], previous: { token: first.json().token, contacts: [num(5, 7)] } });
    expect(again.statusCode).toBe(200);

    const events = await storedEvents();
    expect(events).toHaveLength(7);
    for (const e of events) expect(isLookupEvent(e)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(7);
    const [allowed, challenged, refused, lookup, email, , incremental] = events as [LookupEvent, LookupEvent, LookupEvent, LookupEvent, LookupEvent, LookupEvent, LookupEvent];

    expect(allowed).toEqual({
      v: 1,
      id: expect.stringMatching(new RegExp(`^${(T0 + 1000).toString(16).padStart(12, '0')}[A-Za-z0-9_-]{16}$`)),
      at: T0 + 1000,
      accountId: 'alice',
      deviceId: 'dev-1',
      ip: HOME_IP,
      subnet: '198.51.100.0/24',
      asn: 64501,
      country: 'GB',
      network: 'other',
      tier: 'standard',
      operation: 'full-sync',
      outcome: 'allowed',
      kind: 'phone',
      numbers: 4,
      newNumbers: 4,
      matched: 1,
      revealed: ['findable'],
      blocks: { [blockOf(1)]: 2, [blockOf(2)]: 1, [blockOf(3)]: 1 },
      accountCreatedAt: T0 - 30 * DAY,
      phoneRegion: 'DE',
    });
    expect(challenged).toMatchObject({ outcome: 'challenged', scope: 'account', numbers: 2, newNumbers: 2, matched: 0, revealed: [], blocks: { [blockOf(4)]: 2 } });
    expect(refused).toMatchObject({ outcome: 'refused', scope: 'account', numbers: 7, newNumbers: 7, matched: 0, revealed: [], blocks: { [blockOf(6)]: 7 } });
    // Refusals carry where the call came from, but not the tier (the limiter decides it only on success).
    expect(refused).toMatchObject({ ip: HOME_IP, subnet: '198.51.100.0/24', asn: 64501, country: 'GB', network: 'other' });
    expect(refused.tier).toBeUndefined();
    expect(lookup).toMatchObject({ accountId: 'bob', operation: 'lookup', outcome: 'allowed', numbers: 1, newNumbers: 1, matched: 1, revealed: ['findable'], blocks: { [blockOf(1)]: 1 } });
    expect(email).toMatchObject({ kind: 'email', numbers: 1, matched: 1, revealed: ['findable'], blocks: {} });
    // The covered number is asked again (and counted), but not charged again.
    expect(incremental).toMatchObject({ operation: 'incremental-sync', numbers: 2, newNumbers: 1, matched: 0, revealed: [], blocks: { [blockOf(2)]: 1, [blockOf(5)]: 1 } });

    // No full number, in any form the caller sent, anywhere in the stored rows.
    const rows = JSON.stringify(await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().execute());
    for (const n of [...ALL_NUMBERS, NATIONAL, NATIONAL.replaceAll(' ', '')]) {
      expect(rows).not.toContain(n);
      expect(rows).not.toContain(n.slice(1));
    }
    expect(rows).not.toContain('found@example.com');
  });

  it('stores a redelivered event once and hands it to the handlers once', async () => {
    await start();
    const seen: string[] = [];
    let failNext = true;
    const handler: EventHandler = {
      async handle(events) {
        if (failNext) {
          failNext = false;
          throw new Error('detector down');
        }
        seen.push(...events.map((e) => e.id));
      },
    };
    const pipeline = new EventPipeline(svc.ctx.db, [handler]);
    const a = makeEvent(1);
    const b = makeEvent(2);
    // The handler fails: stored, but not handled, so the redelivery hands it over again.
    await expect(pipeline.process([a, a, b])).rejects.toThrow('detector down');
    await pipeline.process([a, b]);
    await pipeline.process([b, a]);
    await svc.ctx.eventPipeline.process([a]);
    expect(seen.sort()).toEqual([a.id, b.id]);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().orderBy('id').execute();
    expect(rows.map(fromRow)).toEqual([a, b]);
  });

  it('after a resume, does not hand over again what the handlers rebuilt from the table', async () => {
    await start();
    const seen: string[] = [];
    let fail = true;
    let rebuilt = 0;
    const pipeline = new EventPipeline(svc.ctx.db, [
      {
        async handle(events) {
          if (fail) throw new Error('detector down');
          seen.push(...events.map((e) => e.id));
        },
        async resume() {
          rebuilt = (await svc.ctx.db.kysely.selectFrom('lookup_events').select('id').execute()).length;
        },
      },
    ]);
    const a = makeEvent(1);
    await expect(pipeline.process([a])).rejects.toThrow('detector down');
    fail = false;
    await pipeline.resume();
    expect(rebuilt).toBe(1);
    await pipeline.process([a, makeEvent(2)]);
    expect(seen).toEqual([makeEvent(2).id]);
  });

  it('stores through the database library while a directory write holds the connection, with the same rows', async () => {
    await start();
    const seen: string[] = [];
    const pipeline = new EventPipeline(svc.ctx.db, [{ handle: async (events) => void seen.push(...events.map((e) => e.id)) }]);
    const a = makeEvent(1, { deviceId: 'dev-9', asn: 64501, country: 'GB', tier: 'standard', phoneRegion: 'DE', revealed: ['x', 'y'], blocks: { '+4915120': 3 } });
    const b = makeEvent(2);
    let processing: Promise<void> | undefined;
    await svc.ctx.db.kysely.transaction().execute(async (trx) => {
      await trx.selectFrom('accounts').select('id').execute();
      processing = pipeline.process([a, b, a]);
      await new Promise((r) => setTimeout(r, 20));
    });
    await processing;
    await pipeline.process([b]);
    expect(seen.sort()).toEqual([a.id, b.id]);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().orderBy('id').execute();
    expect(rows.map(fromRow)).toEqual([a, b]);
  });

  it('deletes events past the retention period, and only those', async () => {
    await start({ eventRetentionDays: '30' });
    const now = svc.clock.now();
    const ages = [45 * DAY, 30 * DAY + 1, 30 * DAY - 1000, DAY, 0];
    await svc.ctx.eventPipeline.process(ages.map((age, i) => makeEvent(i, { at: now - age })));
    expect(await svc.ctx.eventRetention!.run()).toBe(2);
    const left = await svc.ctx.db.kysely.selectFrom('lookup_events').select('at').orderBy('at').execute();
    expect(left.map((r) => now - Number(r.at))).toEqual([30 * DAY - 1000, DAY, 0]);
    svc.clock.advance(DAY);
    expect(await svc.ctx.eventRetention!.run()).toBe(1);
    expect(await svc.ctx.eventRetention!.run()).toBe(0);
  });
});
