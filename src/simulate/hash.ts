import { SeededRandom } from '../util/random.js';

/** A small, fast, stable hash of integers: per-entity randomness without storing anything. */
export function mix(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p & 0xffff), 0x01000193);
    h = Math.imul(h ^ (p >>> 16), 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

export function rngFor(...parts: number[]): SeededRandom {
  return new SeededRandom(mix(...parts) | 0);
}

/** A standard normal draw (Box-Muller). */
export function normal(rng: SeededRandom): number {
  const u = Math.max(rng.float(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.float());
}
