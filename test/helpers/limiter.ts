import pino from 'pino';
import { Challenges } from '../../src/limits/challenges.js';
import { Limiter } from '../../src/limits/limiter.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { LimitMetrics } from '../../src/limits/metrics.js';
import type { LimitStore } from '../../src/limits/store.js';
import type { IpIntel } from '../../src/net/index.js';
import { loadPolicy, type CompiledPolicy } from '../../src/policy/index.js';
import type { ManualClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';

/** A limiter under the built-in default policy (or `policy`), its state in `store` (a fresh one by default), silent. */
export function defaultLimiter(intel: IpIntel, clock: ManualClock, store: LimitStore = new MemoryLimitStore(), policy: CompiledPolicy = loadPolicy('default')): Limiter {
  return new Limiter({
    policy,
    store,
    ipIntel: intel,
    challenges: new Challenges([{ version: 1, key: Buffer.alloc(32, 1) }], new SeededRandom(1), store),
    metrics: new LimitMetrics(undefined, { defaultMetrics: false }),
    clock,
    logger: pino({ level: 'silent' }),
  });
}
