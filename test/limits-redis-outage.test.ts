import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorAccount } from './helpers/fixtures.js';
import { freePort, killProcess, pollUntil, redisServerAvailable, sleep, startRedisServer, stopProcess, type Spawned } from './helpers/processes.js';
import { startTestService, type TestService } from './helpers/service.js';

/**
 * Redis outage: findguard keeps its limits in a Redis of its own here (a private redis-server,
 * never the shared one other test files use), which is SIGKILLed in the middle of steady traffic.
 * Discovery must fail closed and fast (503), readiness must say why, nothing may be granted
 * that the policy would refuse, and when Redis is back discovery resumes without a restart.
 *
 * Redis runs with an append-only file fsynced on every write, so the budget already spent
 * survives the crash: total grants over the whole test can then be held to the policy's budget.
 */

const BURST = 500;
const BATCH = 10;
const STREAMS = 3;
/** A call while Redis is down must be answered within this (the store's timeouts are 1 s). */
const PROMPT_MS = 2000;
const DOWN_FOR_MS = 2500;

const POLICY = {
  name: 'outage',
  tiers: [{ name: 'all' }],
  layers: [
    { id: 'account-new', subject: 'account', cost: 'new', limits: { all: { burst: BURST, refill: 0, per: '1d' } } },
    { id: 'ip-new', subject: 'ip', cost: 'new', limits: { all: { burst: 10_000_000, refill: 0, per: '1d' } } },
  ],
};

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const haveRedisServer = redisServerAvailable();
if (!haveRedisServer && !requireServices) {
  console.warn('\n*** limits-redis-outage needs the redis-server binary to start and kill its own Redis: SKIPPED (CI runs it) ***\n');
}

interface Call {
  startedAt: number;
  endedAt: number;
  status: number;
  code?: string;
  scope?: string;
  retryAfter?: string;
  granted: number;
}

(haveRedisServer || requireServices ? describe : describe.skip)('limits when Redis goes away mid-traffic', () => {
  let dir: string;
  let port: number;
  let redis: Spawned | undefined;
  let svc: TestService | undefined;
  let token: string;

  beforeAll(async () => {
    if (!haveRedisServer) throw new Error('FINDGUARD_REQUIRE_SERVICES=1 but redis-server cannot be run');
    dir = mkdtempSync(join(tmpdir(), 'findguard-outage-'));
    const policyFile = join(dir, 'policy.json');
    writeFileSync(policyFile, JSON.stringify(POLICY));
    port = await freePort();
    redis = await startRedisServer(port, dir, true);
    svc = await startTestService('sqlite', { redisUrl: `redis://127.0.0.1:${port}`, policy: policyFile, matchWorkers: '0' });
    await mirrorAccount(svc, 'outage-attacker', [], { createdAt: '2020-01-01T00:00:00Z', phoneRegion: 'US' });
    token = await svc.tokenFor('outage-attacker');
  }, 60_000);

  afterAll(async () => {
    await svc?.stop();
    if (redis) await stopProcess(redis, 3000);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  let sent = 0;
  async function syncOnce(bearer = token): Promise<Call> {
    const n = sent++;
    const contacts = Array.from({ length: BATCH }, (_, i) => `+1202555${String((n * BATCH + i) % 10_000).padStart(4, '0')}`);
    const startedAt = Date.now();
    const res = await svc!.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${bearer}` }, payload: { contacts } });
    const endedAt = Date.now();
    const body = res.json<{ error?: { code: string; details?: { scope?: string } } }>();
    const retry = res.headers['retry-after'];
    return {
      startedAt,
      endedAt,
      status: res.statusCode,
      ...(body.error ? { code: body.error.code } : {}),
      ...(body.error?.details?.scope ? { scope: body.error.details.scope } : {}),
      ...(typeof retry === 'string' ? { retryAfter: retry } : {}),
      granted: res.statusCode === 200 ? contacts.length : 0,
    };
  }

  async function readyz(): Promise<{ status: number; checks?: Record<string, string> }> {
    const res = await svc!.app.inject({ method: 'GET', url: '/readyz' });
    return { status: res.statusCode, checks: res.json<{ checks?: Record<string, string> }>().checks };
  }

  it('fails closed (503) while Redis is down, grants nothing beyond the budget, and recovers without a restart', async () => {
    const calls: Call[] = [];
    const granted = (): number => calls.reduce((s, c) => s + c.granted, 0);
    let stop = false;
    const streams = Array.from({ length: STREAMS }, async () => {
      while (!stop) {
        calls.push(await syncOnce());
        await sleep(20);
      }
    });
    try {
      expect((await readyz()).status).toBe(200);
      // Spend part of the budget with Redis up.
      await pollUntil('200 numbers granted', async () => (granted() >= 200 ? true : undefined), 10_000, 10);
      const grantedBefore = granted();
      expect(grantedBefore).toBeLessThan(BURST);

      // Crash: no shutdown, no last save. Only what was fsynced before each reply survives.
      await killProcess(redis!);
      const downAt = Date.now();
      const ready = await readyz();
      expect(ready.status).toBe(503);
      // The decisions are read from the database: Redis away costs their notices, not their freshness.
      expect(ready.checks).toEqual({ database: 'ok', limits: 'unreachable', singleNode: 'ok', decisions: 'ok' });
      await sleep(DOWN_FOR_MS);
      const upAt = Date.now();

      // Every call made entirely while Redis was down answered 503 unavailable, promptly.
      const down = calls.filter((c) => c.startedAt >= downAt && c.endedAt <= upAt);
      expect(down.length).toBeGreaterThanOrEqual(10);
      for (const c of down) {
        expect(c, JSON.stringify(c)).toMatchObject({ status: 503, code: 'unavailable', retryAfter: expect.stringMatching(/^\d+$/) });
        expect(c.endedAt - c.startedAt).toBeLessThan(PROMPT_MS);
      }
      expect(calls.filter((c) => c.startedAt >= downAt).reduce((s, c) => s + c.granted, 0), 'granted while down').toBe(0);
      expect((await readyz()).checks?.limits).toBe('unreachable');

      // Back on the same port and dir; findguard reconnects by itself.
      redis = await startRedisServer(port, dir, true);
      const restartedAt = Date.now();
      await pollUntil('a 200 after Redis is back', async () => (calls.some((c) => c.startedAt >= restartedAt && c.status === 200) ? true : undefined), 5000, 10);
      const resumedAfterMs = Date.now() - restartedAt;
      expect(resumedAfterMs).toBeLessThan(5000);
      expect(await readyz()).toEqual({ status: 200, checks: { database: 'ok', limits: 'ok', singleNode: 'ok', decisions: 'ok' } });

      // Keep the stream going until the (persisted) budget is spent and every stream is refused.
      await pollUntil(
        'the budget to run out',
        async () => (calls.slice(-STREAMS * 3).length === STREAMS * 3 && calls.slice(-STREAMS * 3).every((c) => c.status === 429) ? true : undefined),
        10_000,
        10,
      );
    } finally {
      stop = true;
      await Promise.all(streams);
    }

    // Only answers the policy allows: 200, 429 at account scope, 503 unavailable; never a 500.
    for (const c of calls) {
      if (c.status === 200) continue;
      if (c.status === 429) expect(c, JSON.stringify(c)).toMatchObject({ code: 'rate_limited', scope: 'account', retryAfter: expect.stringMatching(/^[1-9]\d*$/) });
      else expect(c, JSON.stringify(c)).toMatchObject({ status: 503, code: 'unavailable' });
    }
    // Nothing granted that the policy would refuse: the crash did not hand the attacker a fresh bucket.
    const total = granted();
    expect(total).toBeLessThanOrEqual(BURST);
    // At most the calls in flight at the crash were charged without an answer (conservative, never generous).
    expect(total).toBeGreaterThanOrEqual(BURST - STREAMS * BATCH);
    expect(calls.some((c) => c.status === 503)).toBe(true);
  });

  it('answers 503 within the command timeout, not hanging, while Redis is frozen (SIGSTOP), and resumes after SIGCONT', async () => {
    await mirrorAccount(svc!, 'outage-frozen', [], { createdAt: '2020-01-01T00:00:00Z', phoneRegion: 'US' });
    const frozenToken = await svc!.tokenFor('outage-frozen');
    expect((await syncOnce(frozenToken)).status).toBe(200);
    const child = redis!.child;
    child.kill('SIGSTOP');
    let thawed = false;
    try {
      // Connections are still accepted, nothing is answered: only the store's timeouts end the wait.
      const calls = await Promise.all(Array.from({ length: 4 }, () => syncOnce(frozenToken)));
      for (const c of calls) {
        expect(c, JSON.stringify(c)).toMatchObject({ status: 503, code: 'unavailable' });
        expect(c.endedAt - c.startedAt).toBeLessThan(PROMPT_MS);
      }
      const started = Date.now();
      expect((await readyz()).checks?.limits).toBe('unreachable');
      expect(Date.now() - started).toBeLessThan(PROMPT_MS);
      child.kill('SIGCONT');
      thawed = true;
      await pollUntil('a 200 after SIGCONT', async () => ((await syncOnce(frozenToken)).status === 200 ? true : undefined), 5000, 50);
      expect((await readyz()).status).toBe(200);
    } finally {
      if (!thawed) child.kill('SIGCONT');
    }
  });
});
