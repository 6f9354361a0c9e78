import { randomBytes, randomInt } from 'node:crypto';
import { xoroshiro128plus, unsafeUniformIntDistribution, type RandomGenerator } from 'pure-rand';

/** Randomness source. Injected so tests and the simulator are deterministic. */
export interface Random {
  /** Uniform integer in [0, max). */
  int(max: number): number;
  /** Uniform float in [0, 1). */
  float(): number;
  /** n random bytes. Only the crypto source is fit for secrets. */
  bytes(n: number): Buffer;
}

// One getrandom call per id made random ids the second-largest cost of a bulk import;
// drawing from a refilled pool keeps the same entropy source at a fraction of the calls.
const POOL_SIZE = 16 * 1024;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function pooledBytes(n: number): Buffer {
  if (n > POOL_SIZE / 4) return randomBytes(n);
  if (poolOffset + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + n));
  pool.fill(0, poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

export const cryptoRandom: Random = {
  int: (max) => randomInt(max),
  float: () => randomInt(2 ** 48) / 2 ** 48,
  bytes: pooledBytes,
};

/** Deterministic source for tests and the simulator (pure-rand's xoroshiro128+). */
export class SeededRandom implements Random {
  private readonly gen: RandomGenerator;
  constructor(seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }
  int(max: number): number {
    if (max <= 0) throw new RangeError('max must be positive');
    if (max > 2 ** 31) {
      // pure-rand's distribution works on 32-bit ranges; a 52-bit uniform draw covers larger ones.
      const hi = unsafeUniformIntDistribution(0, 2 ** 26 - 1, this.gen);
      const lo = unsafeUniformIntDistribution(0, 2 ** 26 - 1, this.gen);
      return Math.floor(((hi * 2 ** 26 + lo) / 2 ** 52) * max);
    }
    return unsafeUniformIntDistribution(0, max - 1, this.gen);
  }
  float(): number {
    return unsafeUniformIntDistribution(0, 2 ** 30 - 1, this.gen) / 2 ** 30;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = unsafeUniformIntDistribution(0, 255, this.gen);
    return out;
  }
  /** A new independent stream derived from this one, so sub-generators don't shift each other. */
  fork(): SeededRandom {
    return new SeededRandom(unsafeUniformIntDistribution(-(2 ** 31), 2 ** 31 - 1, this.gen));
  }
}
