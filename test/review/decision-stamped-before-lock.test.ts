import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { compilePolicy, DEFAULT_ABUSE_POLICY } from '../../src/policy/index.js';
import { systemClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { postgresAvailable } from '../helpers/postgres.js';
import { sleep } from '../helpers/processes.js';
import { deleteByPrefix, REDIS_URL, redisAvailable, redisClient, uniquePrefix } from '../helpers/redis.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Found in review, fixed: a decision row was stamped `changed_at = now` with `now` read BEFORE
 * its transaction waited for locks (accounts FOR UPDATE, the single audit_head row every audited
 * write takes), and other nodes read incrementally from `since = readStart - 5 s`. A transaction
 * that waited more than 5 s (another node's long audited transaction: a bulk operator batch, a
 * 500-account cluster chunk) committed a row older than every node's `since`: no notice and no
 * timer read ever fetched it, and the node did not enforce the decision (or kept enforcing a lifted
 * one) until it restarted. Nodes now read by what committed since a mark taken before their last
 * read (decisions.change_seq, migration 20261224000000), with a full re-read every minute as a
 * backstop; here each change reaches the other node within 3 s of its commit.
 */

const HOUR = 3_600_000;
const [pgUp, redisUp] = await Promise.all([postgresAvailable(), redisAvailable()]);

function policy() {
  return compilePolicy({
    name: 'review-stamp',
    tiers: [{ name: 'all' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { all: { burst: 300, refill: 0, per: '1d' } } }],
    abuse: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' },
  });
}

describe.skipIf(!pgUp || !redisUp)('decision committed > 5 s after its stamp (scaled out, PostgreSQL + Redis)', () => {
  const prefix = uniquePrefix('review-stamp');
  let a: TestService;
  let b: Service;
  beforeAll(async () => {
    a = await startTestService('postgres', { redisUrl: REDIS_URL }, { redisPrefix: prefix, policy: policy(), clock: systemClock });
    // Another serving node on the same database and Redis channel, real clock, default timer (1 s).
    b = await createService(a.config, a.secrets, { clock: systemClock, random: new SeededRandom(7), logger: createLogger('silent'), migrate: false, redisPrefix: prefix, policy: policy() });
    for (const id of ['scraper', 'scraper2', 'appealed']) await mirrorAccount(a, id, [], { createdAt: new Date(Date.now() - 400 * 24 * HOUR).toISOString(), phoneRegion: 'US' });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await a?.stop();
    const redis = redisClient();
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
  });

  const blockedFor7s = async <T>(lock: string, act: () => Promise<T>): Promise<T> => {
    // Another node's transaction holds a row this one must lock.
    const holder = new pg.Client({ connectionString: a.databaseUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(lock);
    const acting = act();
    await sleep(7000);
    await holder.query('COMMIT');
    await holder.end();
    return acting;
  };

  it("the engine's throttle, committed after waiting 7 s on the account's row lock, reaches the other node", async () => {
    const r = await blockedFor7s(`SELECT id FROM accounts WHERE id = 'scraper' FOR UPDATE`, () =>
      a.ctx.incidents.enforcer.throttle(['scraper'], Date.now() + HOUR, { actor: 'engine', evidence: {}, reason: 'enumeration' }),
    );
    expect(r.recorded).toEqual(['scraper']);
    // The writer's own node applied it at once; the other node then has a notice and 3 timer reads.
    expect(a.ctx.incidents.decisions.standing('scraper', { createdAt: 0 }, Date.now())?.action).toBe('throttle');
    await sleep(3000);
    expect(b.ctx.incidents.decisions.standing('scraper', { createdAt: 0 }, Date.now())?.action).toBe('throttle');
  }, 30_000);

  it("an operator's challenge, committed after waiting 7 s on the audit chain's head, reaches the other node", async () => {
    const r = await blockedFor7s('UPDATE audit_head SET seq = seq WHERE id = 1', () =>
      a.ctx.incidents.enforcer.challenge(['scraper2'], Date.now() + HOUR, { actor: 'alice', evidence: null, reason: 'manual' }),
    );
    expect(r.recorded).toEqual(['scraper2']);
    expect(a.ctx.incidents.decisions.standing('scraper2', { createdAt: 0 }, Date.now())?.action).toBe('challenge');
    await sleep(3000);
    expect(b.ctx.incidents.decisions.standing('scraper2', { createdAt: 0 }, Date.now())?.action).toBe('challenge');
  }, 30_000);

  it("an operator's reinstatement, committed after waiting 7 s on the audit chain's head, lifts the suspension on the other node", async () => {
    await a.ctx.incidents.enforcer.suspend(['appealed'], { actor: 'engine', evidence: {}, reason: 'farm' });
    await sleep(2000);
    expect(b.ctx.incidents.decisions.standing('appealed', { createdAt: 0 }, Date.now())?.action).toBe('suspend');
    await blockedFor7s('UPDATE audit_head SET seq = seq WHERE id = 1', () => a.ctx.incidents.enforcer.reinstate('appealed', { actor: 'alice', reason: 'appeal upheld' }));
    expect(a.ctx.incidents.decisions.standing('appealed', { createdAt: 0 }, Date.now())).toBeUndefined();
    await sleep(3000);
    // Before the fix it stayed suspended there (its caller status said active, its decision cache suspend).
    expect(b.ctx.incidents.decisions.standing('appealed', { createdAt: 0 }, Date.now())).toBeUndefined();
  }, 30_000);
});
