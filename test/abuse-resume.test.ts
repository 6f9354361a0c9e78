import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisEventBus } from '../src/abuse/bus.js';
import type { LookupEvent } from '../src/abuse/events.js';
import { EventMetrics } from '../src/abuse/metrics.js';
import type { EventProcessor } from '../src/abuse/pipeline.js';
import { DEFAULT_ABUSE_POLICY } from '../src/policy/index.js';
import { RedisEventConsumer } from '../src/abuse/redis-consumer.js';
import { AbuseService } from '../src/abuse/service.js';
import type { SignupEvent } from '../src/abuse/signup.js';
import { DAY, T0 as SCENE_T0, Traffic, merge, organicScene, rangeScanScene, type Scene } from '../src/abuse/synthetic.js';
import { makeEvent } from './helpers/events.js';
import { lookup, mirrorSceneAccounts } from './helpers/fixtures.js';
import { pollUntil } from './helpers/processes.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';
import { startTestService, type TestService } from './helpers/service.js';

/**
 * The engine's memory (feature windows, its ledger of actions) is rebuilt from the database by a
 * process that starts consuming; reinstatements made elsewhere (the CLI) reach the running engine;
 * one consumer of the group leads at a time, and a standby takes over.
 */
describe('abuse engine state across processes', () => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  const t = new Traffic(73);
  const organic = organicScene(t, 3);
  const fleet = rangeScanScene(t, { accounts: 20, days: 3, callsPerDay: 4 });
  const all = merge(organic, fleet);
  const enforce = { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' as const };

  async function start() {
    svc = await startTestService('sqlite', { policy: 'none' }, { abuse: { policy: enforce } });
    svc.clock.set(SCENE_T0 - 2 * DAY);
    // The app mirrors every account the scene uses.
    await mirrorSceneAccounts(svc, all.accounts, SCENE_T0 - 30 * DAY);
  }

  async function replay(scene: Scene) {
    for (let i = 0; i < scene.events.length; i += 50) {
      const batch = scene.events.slice(i, i + 50);
      svc.clock.set(batch[batch.length - 1]!.at);
      await svc.ctx.eventPipeline.process(batch);
    }
    await svc.ctx.abuse.evaluate(SCENE_T0 + 3 * DAY);
  }

  function freshService(): AbuseService {
    return new AbuseService(
      { db: svc.ctx.db.kysely, incidents: svc.ctx.incidents, clock: svc.clock, logger: pino({ level: 'silent' }), registry: new Registry() },
      { policy: enforce },
    );
  }

  it('a consumer that starts later rebuilds the windows and the actions in force from the database', async () => {
    await start();
    await replay(all);
    const scanner = fleet.accounts[0]!;
    expect(svc.ctx.abuse.engine.callerState(scanner, svc.clock.now())?.action).toMatch(/^suspend/);

    const blind = freshService();
    expect(blind.engine.callerState(scanner, svc.clock.now())).toBeUndefined();
    expect(blind.engine.store.account(organic.accounts[0]!)).toBeUndefined();

    const resumed = freshService();
    await resumed.resume();
    expect(resumed.engine.callerState(scanner, svc.clock.now())?.action).toMatch(/^suspend/);
    // The last day's events are replayed: accounts active in it have their windows back.
    const lastDay = new Set(all.events.filter((e) => e.at >= svc.clock.now() - DAY).map((e) => e.accountId));
    for (const id of lastDay) expect(resumed.engine.store.account(id), id).toBeDefined();
    // It knows the fleet is already dealt with: no second suspension, no second campaign.
    const decisions = await resumed.evaluate(SCENE_T0 + 3 * DAY + 60_000);
    expect(decisions.filter((d) => d.action.startsWith('suspend'))).toEqual([]);
    expect(await svc.ctx.incidents.campaigns.list()).toHaveLength(1);
  });

  it('hears of a reinstatement made by another process: the account is answered again, and not re-suspended within the grace period', async () => {
    await start();
    await replay(all);
    const scanner = fleet.accounts[1]!;
    const token = await svc.tokenFor(scanner);
    expect((await lookup(svc, token, { phone: '+14155552671' })).statusCode).toBe(403);

    // `findguard accounts reinstate` writes through the enforcer in its own process: the engine here is not told directly.
    const r = await svc.ctx.incidents.enforcer.reinstate(scanner, { actor: 'ops@example.com', reason: 'appeal upheld' });
    expect(r.reinstated).toBe(true);
    expect(svc.ctx.abuse.engine.callerState(scanner, svc.clock.now())).toBeDefined();

    svc.clock.set(SCENE_T0 + 3 * DAY + 60_000);
    await svc.ctx.abuse.evaluate(svc.clock.now());
    expect(svc.ctx.abuse.engine.callerState(scanner, svc.clock.now())).toBeUndefined();
    const res = await lookup(svc, token, { phone: '+14155552671' });
    expect(res.statusCode).toBe(200);
    // Its evidence still stands, but the grace period holds.
    const row = await svc.ctx.db.kysely.selectFrom('accounts').select('fg_status').where('id', '=', scanner).executeTakeFirstOrThrow();
    expect(row.fg_status).toBe('active');
  });
});

describeRedis('one event consumer leads at a time', () => {
  const prefix = uniquePrefix('lease');
  const streamKey = `${prefix}events`;
  const redis = redisClient();
  const consumers: RedisEventConsumer[] = [];
  afterAll(async () => {
    for (const c of consumers) await c.stop();
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
  });

  class Recorder implements EventProcessor {
    readonly ids: string[] = [];
    readonly signups: SignupEvent[] = [];
    resumed = 0;
    async signup(e: SignupEvent): Promise<void> {
      this.signups.push(e);
    }
    async process(events: readonly LookupEvent[]): Promise<void> {
      for (const e of events) this.ids.push(e.id);
    }
    async resume(): Promise<void> {
      this.resumed++;
    }
  }

  function consumer(name: string, processor: Recorder): RedisEventConsumer {
    const c = new RedisEventConsumer({
      url: REDIS_URL,
      streamKey,
      consumer: name,
      processor,
      logger: pino({ level: 'silent' }),
      metrics: new EventMetrics(new Registry()),
      blockMs: 100,
      claimIdleMs: 500,
      leaseMs: 600,
    });
    consumers.push(c);
    c.start();
    return c;
  }

  it('a standby consumes nothing until the leader stops, then resumes the engine and takes over', async () => {
    const bus = new RedisEventBus({ url: REDIS_URL, streamKey, logger: pino({ level: 'silent' }), metrics: new EventMetrics(new Registry()) });
    const a = new Recorder();
    const b = new Recorder();
    const first = consumer('a', a);
    await pollUntil('a leads', async () => (a.resumed === 1 ? true : undefined), 5000);
    consumer('b', b);
    for (let i = 0; i < 300; i++) bus.emit(makeEvent(i));
    expect(await bus.flush()).toBe(true);
    await pollUntil('a has them all', async () => (a.ids.length === 300 ? true : undefined), 5000);
    expect(b.ids).toEqual([]);
    expect(b.resumed).toBe(0);

    await first.stop();
    for (let i = 300; i < 400; i++) bus.emit(makeEvent(i));
    expect(await bus.flush()).toBe(true);
    await pollUntil('b takes over', async () => (b.ids.length === 100 ? true : undefined), 5000);
    expect(b.resumed).toBe(1);
    expect(new Set([...a.ids, ...b.ids]).size).toBe(400);
    await bus.close();
  });

  it("carries the sign-up context the app mirrors to the workers' engine, in stream order", async () => {
    const svc = await startTestService('sqlite', { redisUrl: REDIS_URL, policy: 'none' }, { redisPrefix: `${prefix}s:` });
    try {
      const c = new Recorder();
      const res = await svc.app.inject({
        method: 'PUT',
        url: '/internal/v1/accounts/newbie',
        headers: svc.internal,
        payload: { handle: 'newbie', createdAt: '2026-03-02T10:00:00Z', signup: { ip: '81.2.69.160', deviceId: 'dev-1' } },
      });
      expect(res.statusCode).toBe(201);
      // The service publishes to its own stream key (<prefix>events): read it as a worker would.
      const own = new RedisEventConsumer({
        url: REDIS_URL,
        streamKey: `${prefix}s:events`,
        consumer: 'w',
        processor: c,
        logger: pino({ level: 'silent' }),
        metrics: new EventMetrics(new Registry()),
        blockMs: 100,
      });
      consumers.push(own);
      own.start();
      const got = await pollUntil('the sign-up', async () => (c.signups.length > 0 ? c.signups : undefined), 5000);
      expect(got).toEqual([{ accountId: 'newbie', at: Date.parse('2026-03-02T10:00:00Z'), ip: '81.2.69.160', subnet: '81.2.69.0/24', asn: expect.any(Number), country: 'GB', network: 'other', deviceId: 'dev-1' }]);
    } finally {
      await svc.stop();
    }
  });
});
