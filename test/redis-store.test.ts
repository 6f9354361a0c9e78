import { createServer, connect, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from './helpers/redis.js';
import { MemoryLimitStore } from '../src/limits/memory-store.js';
import { SCOPES, type Scope } from '../src/policy/index.js';
import { createRedisLimitStore, type RedisLimitStore } from '../src/limits/redis-store.js';
import { LimitStoreError, type ApplyInput, type ApplyResult, type BreakerCharge, type Charge } from '../src/limits/store.js';

const T0 = Date.parse('2026-11-01T12:00:00Z');
const DAY = 86_400_000;

function charge(key: string, over: Partial<Charge> = {}): Charge {
  return { layer: key, scope: 'account', key, cost: 1, burst: 10, rate: 10 / 60_000, perMs: 60_000, shadow: false, ...over };
}

// Every key a run touches is dropped from Redis afterwards, whatever happened.
const filePrefix = uniquePrefix('redis-store');
const stores: RedisLimitStore[] = [];
function store(prefix = filePrefix): RedisLimitStore {
  const s = createRedisLimitStore(REDIS_URL, { prefix });
  stores.push(s);
  return s;
}

describeRedis('RedisLimitStore', () => {
  let client: Redis;
  beforeAll(() => {
    client = redisClient();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    if (client) {
      await deleteByPrefix(client, filePrefix);
      await client.quit();
    }
  });

  describe('parity with MemoryLimitStore', () => {
    // Redis expires keys in real time, the memory store in fake time, so only expiries that end in a
    // full bucket (which reads the same either way) may happen inside a run: fake time spans less
    // than a day, strike windows are longer, and a key keeps its layer's burst and rate, as policy
    // keys do (a bucket read with another rate than it was written with refills differently).
    // A step may still charge one layer twice, so duplicate keys in one call are covered.
    const layerDef = fc.record({
      scope: fc.constantFrom<Scope>(...SCOPES),
      burst: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 }), fc.double({ min: 0.5, max: 50, noNaN: true })),
      // 0: a bucket that never refills.
      refillMs: fc.oneof(fc.constant(0), fc.integer({ min: 500, max: 3_600_000 })),
      cost: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 6 }), fc.double({ min: 0.1, max: 6, noNaN: true })),
      perMs: fc.integer({ min: 1000, max: DAY }),
      shadow: fc.boolean(),
      challengeBelow: fc.option(fc.constantFrom(0.1, 0.3, 0.5, 0.9), { nil: undefined }),
    });
    const breakerDef = fc.record({
      key: fc.constantFrom('g0', 'g1'),
      windowMs: fc.oneof(fc.integer({ min: 1000, max: 60_000 }), fc.double({ min: 500, max: 30_000, noNaN: true })),
      alpha: fc.oneof(fc.constantFrom(0.05, 0.1, 0.3), fc.double({ min: 0.01, max: 0.9, noNaN: true })),
      initialBaseline: fc.double({ min: 0, max: 8, noNaN: true }),
      ratio: fc.double({ min: 1, max: 4, noNaN: true }),
      minimum: fc.integer({ min: 0, max: 8 }),
      holdMs: fc.integer({ min: 0, max: 120_000 }),
    });
    const step = fc.record({
      layers: fc.array(fc.nat(7), { maxLength: 4 }),
      breaker: fc.option(
        fc.record({
          def: fc.nat(2),
          demand: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.double({ min: 0.5, max: 12, noNaN: true })),
          share: fc.constantFrom(0, 0.5, 1, 0.25),
          shadow: fc.boolean(),
        }),
        { nil: undefined },
      ),
      proof: fc.boolean(),
      strikeKey: fc.option(fc.constantFrom('s0', 's1'), { nil: undefined }),
      // The strike counts the caller's tier assumed (no max: unbounded); outside them: 'stale-strikes'.
      strikeRange: fc.oneof(
        { weight: 3, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.record({ min: fc.nat(2), span: fc.option(fc.nat(2), { nil: undefined }) }) },
      ),
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 120_000 }), fc.integer({ min: 0, max: 1_800_000 })),
    });
    const scenario = fc.record({
      layers: fc.array(layerDef, { minLength: 8, maxLength: 8 }),
      breakers: fc.array(breakerDef, { minLength: 3, maxLength: 3 }),
      steps: fc.array(step, { minLength: 1, maxLength: 40 }),
    });
    type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

    function inputs(sc: Scenario): ApplyInput[] {
      let now = T0;
      return sc.steps.map((st) => {
        now += st.advanceMs;
        const charges = st.layers.map((i, j): Charge => {
          const d = sc.layers[i]!;
          const rate = d.refillMs === 0 ? 0 : Math.max(d.burst, 1) / d.refillMs;
          return { layer: `l${i}-${j}`, scope: d.scope, key: `k${i}`, cost: d.cost, burst: d.burst, rate, perMs: d.perMs, shadow: d.shadow, challengeBelow: d.challengeBelow };
        });
        let breaker: BreakerCharge | undefined;
        if (st.breaker) {
          const d = sc.breakers[st.breaker.def]!;
          breaker = { ...d, demand: st.breaker.demand, share: st.breaker.share, shadow: st.breaker.shadow };
        }
        const input: ApplyInput = { charges, breaker, proof: st.proof, strikeKey: st.strikeKey, strikeWindowMs: 2 * DAY, now };
        if (st.strikeRange) {
          input.strikesMin = st.strikeRange.min;
          if (st.strikeRange.span !== undefined) input.strikesMax = st.strikeRange.min + st.strikeRange.span;
        }
        return input;
      });
    }

    const seen = new Set<string>();
    function note(r: ApplyResult): void {
      seen.add(r.outcome);
      if (r.tripped) seen.add('tripped');
      if (r.breakerShadowRefused) seen.add('breakerShadowRefused');
      if (r.layer === 'breaker') seen.add('refused by breaker');
      if (r.strikes > 0) seen.add('strikes');
      for (const l of r.layers) seen.add(l.outcome);
      if (r.layers.some((l) => l.nearLimit)) seen.add('nearLimit');
    }

    it('returns exactly what the memory store returns, step by step', async () => {
      const redis = store();
      let run = 0;
      await fc.assert(
        fc.asyncProperty(scenario, async (sc) => {
          // A fresh key space per run (shrinking reruns included) on the shared connection.
          const runPrefix = `r${run++}:`;
          const memory = new MemoryLimitStore();
          const steps = inputs(sc);
          for (const [i, input] of steps.entries()) {
            const expected = await memory.apply(input);
            const scoped = prefixed(input, runPrefix);
            const actual = await redis.apply(scoped);
            expect(actual, `step ${i}`).toStrictEqual(expected);
            note(expected);
          }
          const now = steps.at(-1)!.now;
          for (const k of ['s0', 's1']) expect(await redis.strikes(runPrefix + k, now)).toBe(await memory.strikes(k, now));
        }),
        { numRuns: 150 },
      );
      // The generators must actually reach every branch, or parity proves little.
      for (const b of ['allowed', 'refused', 'challenge', 'stale-strikes', 'tripped', 'breakerShadowRefused', 'refused by breaker', 'strikes', 'shadow_refused', 'unchecked', 'nearLimit']) {
        expect(seen, b).toContain(b);
      }
    });
  });

  it('charges a hot bucket exactly burst times under concurrency from three connections', async () => {
    const prefix = `${filePrefix}hot:`;
    const nodes = [store(prefix), store(prefix), store(prefix)];
    const input: ApplyInput = { charges: [charge('hot', { burst: 50, rate: 0 })], proof: false, strikeWindowMs: DAY, now: T0 };
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => nodes[i % 3]!.apply(input)));
    expect(results.filter((r) => r.outcome === 'allowed')).toHaveLength(50);
    expect(results.filter((r) => r.outcome === 'refused')).toHaveLength(150);
    expect(Number(await client.hget(`${prefix}hot`, 'tokens'))).toBe(0);
  });

  it("answers 'stale-strikes' with the current count and writes nothing when the strikes are outside the caller's tier", async () => {
    const s = store();
    const strikeKey = 'stale:strikes';
    const refused = await s.apply({ charges: [charge('stale:tiny', { burst: 1, cost: 2 })], proof: false, strikeKey, strikeWindowMs: DAY, now: T0 });
    expect(refused).toMatchObject({ outcome: 'refused', strikes: 1 });
    const breaker: BreakerCharge = { key: 'stale:breaker', demand: 1, windowMs: 60_000, alpha: 0.1, initialBaseline: 10, ratio: 3, minimum: 10, holdMs: 60_000, share: 1, shadow: false };
    const input: ApplyInput = { charges: [charge('stale:bucket'), charge('stale:big', { cost: 20 })], breaker, proof: false, strikeKey, strikeWindowMs: DAY, now: T0, strikesMin: 0, strikesMax: 0 };
    expect(await s.apply(input)).toStrictEqual({ outcome: 'stale-strikes', layers: [], tripped: false, breakerShadowRefused: false, strikes: 1 });
    expect(await client.exists(`${filePrefix}stale:bucket`, `${filePrefix}stale:big`, `${filePrefix}stale:breaker`)).toBe(0);
    expect(await s.strikes(strikeKey, T0)).toBe(1);
    expect((await s.apply({ ...input, charges: [charge('stale:bucket')], strikesMin: 1, strikesMax: undefined })).outcome).toBe('allowed');
    expect(await client.exists(`${filePrefix}stale:bucket`)).toBe(1);
  });

  it('reloads its script after Redis forgets it (restart, SCRIPT FLUSH)', async () => {
    const s = store();
    const input: ApplyInput = { charges: [charge('flush')], proof: false, strikeWindowMs: DAY, now: T0 };
    expect((await s.apply(input)).outcome).toBe('allowed');
    await client.script('FLUSH');
    expect((await s.apply(input)).outcome).toBe('allowed');
    expect(Number(await client.hget(`${filePrefix}flush`, 'tokens'))).toBe(8);
  });

  it('uses a one-time id once, across instances', async () => {
    const [a, b] = [store(), store()];
    expect(await a.useOnce('once:1', 60_000, T0)).toBe(true);
    expect(await a.useOnce('once:1', 60_000, T0)).toBe(false);
    expect(await b.useOnce('once:1', 60_000, T0)).toBe(false);
    expect(await b.useOnce('once:2', 60_000, T0)).toBe(true);
    const ttl = await client.pttl(`${filePrefix}once:1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('gives every key it writes an expiry', async () => {
    const s = store();
    const refill = charge('exp:bucket', { burst: 10, rate: 10 / 60_000, cost: 3 });
    const never = charge('exp:never', { burst: 5, rate: 0 });
    const breaker: BreakerCharge = { key: 'exp:breaker', demand: 1, windowMs: 60_000, alpha: 0.1, initialBaseline: 10, ratio: 3, minimum: 10, holdMs: 60_000, share: 1, shadow: false };
    const allowed = await s.apply({ charges: [refill, never], breaker, proof: false, strikeWindowMs: DAY, now: T0 });
    expect(allowed.outcome).toBe('allowed');
    const bucketTtl = await client.pttl(`${filePrefix}exp:bucket`);
    // Until the bucket is full again (3 tokens at 10/min = 18 s), plus a second.
    expect(bucketTtl).toBeGreaterThan(0);
    expect(bucketTtl).toBeLessThanOrEqual(19_000);
    expect(await client.pttl(`${filePrefix}exp:never`)).toBeGreaterThan(300 * DAY);
    expect(await client.pttl(`${filePrefix}exp:breaker`)).toBeGreaterThan(DAY);

    const tiny = charge('exp:tiny', { burst: 1, cost: 2, scope: 'device' });
    const refused = await s.apply({ charges: [tiny], proof: false, strikeKey: 'exp:strikes', strikeWindowMs: 3_600_000, now: T0 });
    expect(refused).toMatchObject({ outcome: 'refused', scope: 'device', strikes: 1 });
    expect(await client.exists(`${filePrefix}exp:tiny`)).toBe(0);
    const strikeTtl = await client.pttl(`${filePrefix}exp:strikes`);
    expect(strikeTtl).toBeGreaterThan(0);
    expect(strikeTtl).toBeLessThanOrEqual(3_600_000);
    expect(await s.strikes('exp:strikes', T0)).toBe(1);
  });

  it('recovers by itself when Redis comes back', async () => {
    const proxy = await tcpProxy(new URL(REDIS_URL));
    const s = createRedisLimitStore(`redis://127.0.0.1:${proxy.port}`, { prefix: filePrefix });
    try {
      await s.ping();
      await proxy.stop();
      await expect(s.ping()).rejects.toBeInstanceOf(LimitStoreError);
      await proxy.start();
      await eventually(() => s.ping());
      expect((await s.apply({ charges: [charge('recover')], proof: false, strikeWindowMs: DAY, now: T0 })).outcome).toBe('allowed');
    } finally {
      await s.close();
      await proxy.stop();
    }
  });
});

describe('RedisLimitStore without Redis', () => {
  it('fails fast with LimitStoreError when nothing listens', async () => {
    const s = createRedisLimitStore('redis://127.0.0.1:1', { prefix: 'fg:test:down:' });
    try {
      const started = Date.now();
      await expect(s.apply({ charges: [charge('a')], proof: false, strikeWindowMs: DAY, now: T0 })).rejects.toBeInstanceOf(LimitStoreError);
      expect(Date.now() - started).toBeLessThan(2000);
      await expect(s.ping()).rejects.toBeInstanceOf(LimitStoreError);
      await expect(s.useOnce('x', 1000, T0)).rejects.toBeInstanceOf(LimitStoreError);
      await expect(s.strikes('x', T0)).rejects.toBeInstanceOf(LimitStoreError);
    } finally {
      await s.close();
    }
  });

  it('fails fast when the server accepts connections but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((sock) => sockets.add(sock));
    const port = await listen(silent, 0);
    const s = createRedisLimitStore(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 500, commandTimeoutMs: 500 });
    try {
      const started = Date.now();
      await expect(s.apply({ charges: [charge('a')], proof: false, strikeWindowMs: DAY, now: T0 })).rejects.toBeInstanceOf(LimitStoreError);
      await expect(s.ping()).rejects.toBeInstanceOf(LimitStoreError);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await s.close();
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

function prefixed(input: ApplyInput, prefix: string): ApplyInput {
  return {
    ...input,
    charges: input.charges.map((c) => ({ ...c, key: prefix + c.key })),
    breaker: input.breaker && { ...input.breaker, key: prefix + input.breaker.key },
    strikeKey: input.strikeKey === undefined ? undefined : prefix + input.strikeKey,
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** A TCP proxy to Redis that can be cut (every connection dropped, the port closed) and restored on the same port. */
async function tcpProxy(target: URL): Promise<{ port: number; stop(): Promise<void>; start(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const start = async (): Promise<void> => {
    server = createServer((down) => {
      const up = connect(Number(target.port || 6379), target.hostname);
      for (const s of [down, up]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          sockets.delete(s);
          down.destroy();
          up.destroy();
        });
      }
      down.pipe(up).pipe(down);
    });
    port = await listen(server, port);
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise((r) => s.close(r));
    for (const sock of sockets) sock.destroy();
    await closed;
  };
  await start();
  return { port, stop, start };
}

async function eventually(fn: () => Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
