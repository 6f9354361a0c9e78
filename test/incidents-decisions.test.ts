import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compilePolicy, DEFAULT_ABUSE_POLICY } from '../src/policy/index.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { migrations } from '../src/db/migrations/index.js';
import { decisionsFor, type SignupHold } from '../src/incidents/index.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { SeededRandom } from '../src/util/random.js';
import { lookup, mirrorAccount, sync } from './helpers/fixtures.js';
import { pollUntil } from './helpers/processes.js';
import { deleteByPrefix, REDIS_URL, redisAvailable, redisClient, uniquePrefix } from './helpers/redis.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';
import { EXPIRY_SKEW_MS } from '../src/incidents/decision-cache.js';

/**
 * Standing decisions (src/incidents/decisions.ts, decision-cache.ts): written with the action that
 * causes them, enforced by the request path from the cache, at once in the writing process, on
 * notice or by the timer elsewhere, on the injected clock; unreadable, discovery fails closed.
 */

const HOUR = 3_600_000;
const PROBE = 100;
const redisUp = await redisAvailable();

/** A bucket a probe of PROBE new numbers fits twice and a throttled one (4x) never. */
function policy(mode: 'enforce' | 'shadow') {
  return compilePolicy({
    name: `decisions-${mode}`,
    tiers: [{ name: 'all' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { all: { burst: 3 * PROBE, refill: 0, per: '1d' } } }],
    abuse: { ...DEFAULT_ABUSE_POLICY, mode },
  });
}

let n = 0;
/** Fresh valid US numbers, ten per block: nothing the real-time rules refuse. */
function book(size: number): string[] {
  const areas = ['415', '202', '312', '617', '206', '303', '512', '646', '702', '808'];
  return Array.from({ length: size }, (_, i) => `+1${areas[i % areas.length]}555${String((n++ * 37) % 10_000).padStart(4, '0')}`);
}

const HOLDS: SignupHold[] = [
  { accountId: 'farmer', scope: 'device', subject: 'farm-dev' },
  { accountId: 'farmer', scope: 'ip', subject: '203.0.113.7' },
];

describeEachDialect('decisions', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, { policy: policy('enforce'), incidents: { decisions: { pollMs: 100, maxAgeMs: 500 } } });
    for (const id of ['farmer', 'thr', 'chl', 'op-target']) await mirrorAccount(svc, id, [], { createdAt: new Date(T0 - 400 * 24 * HOUR).toISOString(), phoneRegion: 'US' });
  });
  afterAll(async () => svc?.stop());

  const enforcer = () => svc.ctx.incidents.enforcer;
  const db = () => svc.ctx.db.kysely;
  const engine = { actor: 'engine', evidence: {} } as const;

  it('records one decision per action in its transaction, and the reinstatement lifts them and the holds they caused', async () => {
    await enforcer().suspend(['farmer'], { ...engine, reason: 'farm', clusterId: 'c-1', holds: HOLDS });
    const [action] = await enforcer().actionsFor('farmer');
    const rows = await db().selectFrom('decisions').selectAll().where('action_id', '=', action!.id).orderBy('id').execute();
    expect(rows.map((r) => [r.scope, r.subject, r.action, r.source, r.expires_at, r.cluster_id, r.lifted_at])).toEqual([
      ['account', 'farmer', 'suspend', 'engine', null, 'c-1', null],
      ['device', 'farm-dev', 'hold-signups', 'engine', null, 'c-1', null],
      ['ip', '203.0.113.7', 'hold-signups', 'engine', null, 'c-1', null],
    ]);
    expect(rows.every((r) => Number(r.created_at) === T0 && r.reason === 'farm')).toBe(true);

    await enforcer().throttle(['op-target'], T0 + HOUR, { actor: 'alice', reason: 'manual', evidence: null });
    expect((await decisionsFor(db(), 'account', 'op-target')).map((d) => [d.action, d.source, d.actor, d.expiresAt])).toEqual([['throttle', 'operator', 'alice', T0 + HOUR]]);

    // Nothing is recorded unless the decision is: one transaction.
    await mirrorAccount(svc, 'atomic');
    await sql`ALTER TABLE decisions RENAME TO decisions_away`.execute(db());
    try {
      await expect(enforcer().challenge(['atomic'], T0 + HOUR, { ...engine, reason: 'r' })).rejects.toThrow();
    } finally {
      await sql`ALTER TABLE decisions_away RENAME TO decisions`.execute(db());
    }
    expect(await enforcer().actionsFor('atomic')).toEqual([]);

    await mirrorAccount(svc, 'lifted');
    await enforcer().suspend(['lifted'], { ...engine, reason: 'farm', holds: [{ accountId: 'lifted', scope: 'device', subject: 'lifted-dev' }] });
    await enforcer().challenge(['lifted'], T0 + HOUR, { ...engine, reason: 'r' });
    await enforcer().reinstate('lifted', { actor: 'bob', reason: 'appeal upheld' });
    const after = [...(await decisionsFor(db(), 'account', 'lifted')), ...(await decisionsFor(db(), 'device', 'lifted-dev'))];
    expect(after).toHaveLength(3);
    expect(after.every((d) => d.liftedAt === T0 && d.liftedBy === 'bob' && d.liftReason === 'appeal upheld')).toBe(true);
    expect(svc.ctx.incidents.decisions.standing('lifted', { createdAt: T0 - HOUR }, T0)).toBeUndefined();
  });

  it('enforces in the writing process at once: throttle, challenge, suspension; expiry on the injected clock', async () => {
    const thr = await svc.tokenFor('thr');
    const chl = await svc.tokenFor('chl');
    expect((await sync(svc, thr, { contacts: book(PROBE) })).statusCode).toBe(200);
    expect((await lookup(svc, chl, { phone: book(1)[0] })).statusCode).toBe(200);

    await enforcer().throttle(['thr'], T0 + 2 * HOUR, { ...engine, reason: 'slow down' });
    await enforcer().challenge(['chl'], T0 + 2 * HOUR, { ...engine, reason: 'prove it' });
    const refused = await sync(svc, thr, { contacts: book(PROBE) });
    expect([refused.statusCode, refused.json().error.code, refused.json().error.details.scope]).toEqual([429, 'rate_limited', 'account']);
    expect((await lookup(svc, chl, { phone: book(1)[0] })).json().error.code).toBe('challenge_required');
    expect((await lookup(svc, await svc.tokenFor('farmer'), { phone: book(1)[0] })).json().error.code).toBe('account_suspended');

    svc.clock.advance(2 * HOUR + EXPIRY_SKEW_MS);
    expect((await sync(svc, await svc.tokenFor('thr'), { contacts: book(PROBE) })).statusCode).toBe(200);
    expect((await lookup(svc, await svc.tokenFor('chl'), { phone: book(1)[0] })).statusCode).toBe(200);
    svc.clock.set(T0);
  });

  it("holds a new account signed up on a suspended account's device or hosting address for its first hour, and nobody older", async () => {
    // 'farmer' was suspended at T0 with holds on farm-dev and 203.0.113.7 (first test).
    svc.clock.set(T0 + 60_000);
    await mirrorAccount(svc, 'new-on-device', [], { signup: { ip: '81.2.69.160', deviceId: 'farm-dev' } });
    await mirrorAccount(svc, 'new-on-address', [], { signup: { ip: '203.0.113.7', deviceId: 'fresh-dev' } });
    await mirrorAccount(svc, 'new-elsewhere', [], { signup: { ip: '81.2.69.161', deviceId: 'own-dev' } });
    await mirrorAccount(svc, 'old-on-device', [], { createdAt: new Date(T0 - HOUR).toISOString(), signup: { ip: '81.2.69.162', deviceId: 'farm-dev' } });
    const status = async (id: string) => (await lookup(svc, await svc.tokenFor(id), { phone: book(1)[0] })).statusCode;
    expect(await status('new-on-device')).toBe(403);
    expect(await status('new-on-address')).toBe(403);
    expect(await status('new-elsewhere')).toBe(200);
    expect(await status('old-on-device')).toBe(200);
    svc.clock.advance(HOUR);
    expect(await status('new-on-device')).toBe(200);
    svc.clock.set(T0);
  });

  it('fails closed while the decisions cannot be read, and recovers without a restart', async () => {
    const token = await svc.tokenFor('new-elsewhere');
    await sql`ALTER TABLE decisions RENAME TO decisions_away`.execute(db());
    try {
      await pollUntil('decisions unreadable', async () => ((await svc.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 503 ? true : undefined), 5000);
      const ready = await svc.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.json().checks.decisions).toBe('unreadable');
      const res = await lookup(svc, token, { phone: book(1)[0] });
      expect([res.statusCode, res.json().error.code, res.headers['retry-after']]).toEqual([503, 'unavailable', '5']);
    } finally {
      await sql`ALTER TABLE decisions_away RENAME TO decisions`.execute(db());
    }
    await pollUntil('decisions readable', async () => ((await lookup(svc, token, { phone: book(1)[0] })).statusCode === 200 ? true : undefined), 5000);
    expect((await svc.app.inject({ method: 'GET', url: '/readyz' })).json().checks.decisions).toBe('ok');
  });

  it('keeps enforcing what was in force before the table existed (the migration copies the actions not reversed)', async () => {
    const old = await startTestService(dialect, {}, { policy: policy('enforce') });
    try {
      const kysely = old.ctx.db.kysely;
      const migrator = new Migrator({ db: kysely, provider: { getMigrations: async () => migrations } });
      expect((await migrator.migrateTo('20261210000000-derived-phone-region')).error).toBeUndefined();
      const action = (id: string, action: 'suspend' | 'throttle' | 'challenge' | 'reinstate', over: { expires_at?: number; reversed_by?: string; actor?: string } = {}) => ({
        id,
        at: T0,
        action,
        account_id: `acct-${id}`,
        cluster_id: action === 'suspend' ? 'c-9' : null,
        campaign_id: null,
        actor: over.actor ?? 'engine',
        reason: `why ${id}`,
        evidence: '{}',
        expires_at: over.expires_at ?? null,
        reversed_by: over.reversed_by ?? null,
      });
      await kysely
        .insertInto('enforcement_actions')
        .values([action('a1', 'suspend'), action('a2', 'throttle', { expires_at: T0 + HOUR, actor: 'alice' }), action('a3', 'challenge', { expires_at: T0 + HOUR, reversed_by: 'a4' }), action('a4', 'reinstate')])
        .execute();
      await migrateToLatest(kysely);
      const rows = await kysely.selectFrom('decisions').selectAll().orderBy('id').execute();
      expect(rows.map((r) => [r.id, r.scope, r.subject, r.action, r.source, r.actor, r.expires_at, r.cluster_id, r.action_id, r.lifted_at])).toEqual([
        ['dec_a1', 'account', 'acct-a1', 'suspend', 'engine', 'engine', null, 'c-9', 'a1', null],
        ['dec_a2', 'account', 'acct-a2', 'throttle', 'operator', 'alice', T0 + HOUR, null, 'a2', null],
      ]);
    } finally {
      await old.stop();
    }
  });

  it('in shadow mode enforces none of it', async () => {
    const shadow = await startTestService(dialect, {}, { policy: policy('shadow') });
    try {
      await mirrorAccount(shadow, 'thr', [], { createdAt: new Date(T0 - 400 * 24 * HOUR).toISOString(), phoneRegion: 'US' });
      await mirrorAccount(shadow, 'farmer');
      await shadow.ctx.incidents.enforcer.throttle(['thr'], T0 + HOUR, { ...engine, reason: 'r' });
      await shadow.ctx.incidents.enforcer.suspend(['farmer'], { ...engine, reason: 'r', holds: HOLDS });
      await mirrorAccount(shadow, 'newcomer', [], { signup: { ip: '81.2.69.160', deviceId: 'farm-dev' } });
      const thr = await shadow.tokenFor('thr');
      expect((await sync(shadow, thr, { contacts: book(PROBE) })).statusCode).toBe(200);
      expect((await sync(shadow, thr, { contacts: book(PROBE) })).statusCode).toBe(200);
      expect((await lookup(shadow, await shadow.tokenFor('newcomer'), { phone: book(1)[0] })).statusCode).toBe(200);
    } finally {
      await shadow.stop();
    }
  });

  it.skipIf(!redisUp)('on another node: a notice takes effect at once, the timer catches a lost one', async () => {
    const prefix = uniquePrefix(`decisions-${dialect}`);
    const a = await startTestService(dialect, { redisUrl: REDIS_URL }, { redisPrefix: prefix, policy: policy('enforce') });
    const node = (redisPrefix: string, pollMs: number): Promise<Service> =>
      createService(a.config, a.secrets, { clock: a.clock, random: new SeededRandom(7), logger: createLogger('silent'), migrate: false, redisPrefix, policy: policy('enforce'), incidents: { decisions: { pollMs } } });
    // Hears the notices, and reads on its own only once a minute: what it knows fast came by notice.
    const listening = await node(prefix, 60_000);
    // Hears none (another channel): what it knows came by its timer.
    const deaf = await node(uniquePrefix('elsewhere'), 1000);
    const redis = redisClient();
    try {
      await mirrorAccount(a, 'remote');
      const seen = (svc2: Service, id: string) => svc2.ctx.incidents.decisions.standing(id, { createdAt: T0 - HOUR }, a.clock.now());
      const timed = async (what: string, done: () => boolean): Promise<number> => {
        const start = Date.now();
        await pollUntil(what, async () => (done() ? true : undefined), 5000, 10);
        return Date.now() - start;
      };

      await a.ctx.incidents.enforcer.challenge(['remote'], T0 + HOUR, { ...engine, reason: 'r' });
      const [byNotice, byTimer] = await Promise.all([timed('notice', () => seen(listening, 'remote')?.action === 'challenge'), timed('timer', () => seen(deaf, 'remote')?.action === 'challenge')]);
      expect(byNotice).toBeLessThan(500);
      expect(byTimer).toBeLessThanOrEqual(2000);

      await a.ctx.incidents.enforcer.suspend(['remote'], { ...engine, reason: 'r' });
      await a.ctx.incidents.enforcer.reinstate('remote', { actor: 'ops', reason: 'appeal' });
      const [liftedByNotice, liftedByTimer] = await Promise.all([timed('lift notice', () => seen(listening, 'remote') === undefined), timed('lift timer', () => seen(deaf, 'remote') === undefined)]);
      expect(liftedByNotice).toBeLessThan(500);
      expect(liftedByTimer).toBeLessThanOrEqual(2000);
      // Expiry needs no notice: the injected clock decides.
      await a.ctx.incidents.enforcer.throttle(['remote'], T0 + HOUR, { ...engine, reason: 'r' });
      await timed('throttle', () => seen(listening, 'remote')?.action === 'throttle');
      a.clock.advance(HOUR + EXPIRY_SKEW_MS);
      expect(seen(listening, 'remote')).toBeUndefined();
    } finally {
      a.clock.set(T0);
      await listening.close();
      await deaf.close();
      await a.stop();
      await deleteByPrefix(redis, prefix);
      redis.disconnect();
    }
  });
});
