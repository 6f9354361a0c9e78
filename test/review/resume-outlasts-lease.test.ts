import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeEvent } from '../../src/abuse/events.js';
import { EventMetrics } from '../../src/abuse/metrics.js';
import type { EventProcessor } from '../../src/abuse/pipeline.js';
import { RedisEventConsumer } from '../../src/abuse/redis-consumer.js';
import { createLogger } from '../../src/logger.js';
import { makeEvent } from '../helpers/events.js';
import { deleteByPrefix, describeRedis, REDIS_URL, redisClient, uniquePrefix } from '../helpers/redis.js';

/**
 * Review ("two workers both believing they own a partition"): a consumer that takes the lease
 * (redis-consumer.ts lead()) rebuilds its engine first (processor.resume(): the last day's events
 * replayed from the database, up to 2,000,000 at ~60,000/s: ~33 s, plus the partition's summaries
 * published again), and nothing renews the lease meanwhile. It then "renews" it once more and
 * ignores the answer: if the resume outlasted the lease (30 s by default), another worker standing
 * by took the lapsed lease and began its own resume, yet this one sets `leading` and processes
 * the next round as well (its claim of stale entries, its backlog read) though another holds the
 * lease. Then its next round finds the lease taken and stands by; the second's resume outlasts
 * the lease in turn, the first (now standing by) takes it back and resumes again, and so on: with
 * a day's history that takes longer to replay than the lease lasts, two or more workers hand the
 * partition back and forth for ever, every rebuild thrown away, and NO batch is ever read: the
 * stream grows, no answered call is stored (no exposure record, no late-exposure check), the
 * engine decides nothing, and the serve nodes fail answered calls closed only once the stream
 * reaches 90% of its 2,000,000-entry cap. One worker alone does not see it (its renewal re-takes
 * the lapsed lease): it starts when a standby is added for availability.
 *
 * Scaled down here: lease 1 s (claim idle 1 s), resume 1.5 s, the same ratio as 30 s against a
 * 2,000,000-event replay on this VM.
 *
 * One way to close it: renew the lease during resume (a timer every leaseMs / 3 while resume()
 * runs, checking it is still ours, abandoning the resume when it is not), and check the renewal
 * after it (0: stand by, do not lead); or size the lease from the resume's own measured length.
 */
const LEASE_MS = 1000;
const RESUME_MS = 1500;

describeRedis('review: a resume longer than the consumer lease', () => {
  const prefix = uniquePrefix('review-resume-lease');
  const redis = redisClient();
  const consumers: RedisEventConsumer[] = [];
  let publishing: NodeJS.Timeout | undefined;
  afterAll(async () => {
    clearInterval(publishing);
    await Promise.all(consumers.map((c) => c.stop()));
    await deleteByPrefix(redis, prefix);
    redis.disconnect();
  });

  /** Two consumers on one stream, each resume taking resumeMs, events arriving every 50 ms, for 8 s. */
  async function run(tag: string, resumeMs: number) {
    const stream = `${prefix}${tag}:events`;
    const leaseKey = `${stream}:leader`;
    const resumes: string[] = [];
    /** Batches processed while the lease named another consumer. */
    const foreign: Array<{ by: string; holder: string | null; events: number }> = [];
    const handledBy = new Map<string, string>();
    const processor = (name: string): EventProcessor => ({
      resume: async () => {
        resumes.push(name);
        await new Promise((r) => setTimeout(r, resumeMs));
      },
      process: async (events) => {
        const holder = await redis.get(leaseKey);
        if (holder !== name) foreign.push({ by: name, holder, events: events.length });
        for (const e of events) handledBy.set(e.id, name);
      },
    });
    const pair: RedisEventConsumer[] = [];
    for (const name of ['worker-a', 'worker-b']) {
      pair.push(
        new RedisEventConsumer({
          url: REDIS_URL,
          processor: processor(name),
          logger: createLogger('silent'),
          metrics: new EventMetrics(new Registry(), () => Date.now()),
          streamKey: stream,
          consumer: name,
          claimIdleMs: LEASE_MS,
          blockMs: 200,
        }),
      );
    }
    consumers.push(...pair);
    // Lookup events keep arriving, as from serving nodes.
    let published = 0;
    publishing = setInterval(() => void redis.xadd(stream, '*', 'e', encodeEvent(makeEvent(published++))).catch(() => undefined), 50);
    pair[0]!.start();
    await new Promise((r) => setTimeout(r, 100));
    pair[1]!.start();
    await new Promise((r) => setTimeout(r, 8000));
    clearInterval(publishing);
    return { resumes, foreign, handled: handledBy.size, published };
  }

  it('control: a resume shorter than the lease, one take-over, events processed', async () => {
    const r = await run('short', LEASE_MS / 3);
    expect(r.resumes).toHaveLength(1);
    expect(r.handled).toBeGreaterThan(r.published / 2);
    expect(r.foreign).toEqual([]);
  }, 30_000);

  it('only the lease holder processes, and a take-over is not undone by the next', async () => {
    const { resumes, foreign, handled, published } = await run('long', RESUME_MS);
    // Fails today: every take-over's resume outlasts the lease, so the two hand the stream back
    // and forth (a resume every ~1.5 s instead of one) and neither ever reads a batch: ~160 events
    // published, none processed (none stored: no exposure records, no engine), for as long as it lasts.
    expect(handled, `events processed of ${published} published; resumes: ${resumes.join(', ')}`).toBeGreaterThan(published / 2);
    expect(foreign, `batches processed by a consumer not holding the lease; resumes: ${resumes.join(', ')}`).toEqual([]);
    expect(resumes.length, `resumes: ${resumes.join(', ')}`).toBe(1);
  }, 30_000);
});
