import type { Random } from './random.js';

/**
 * Every generated id (lookup events, contact points, enforcement actions, outbox events, audit
 * entries, campaigns) is made here: `[<prefix>_]<time><sequence?><random>`, where
 *
 * - time is the millisecond time as 12 hex digits (hex: base64url's alphabet does not sort in
 *   ASCII order), so ids sort by time and new rows land at the end of their primary key's
 *   B-tree instead of on a random page of it (faster bulk writes and event batches);
 * - sequence, when asked for, is a per-process counter (4 hex digits): ids one process makes in
 *   the same millisecond (a simulated clock makes many) still sort in the order they were made;
 * - random is `randomBytes` bytes of the injected Random in base64url, so the simulator's ids
 *   are reproducible and production's unguessable.
 */
export interface IdFormat {
  /** Before an underscore, naming what the id is ('act', 'cp', …); none for lookup events. */
  prefix?: string;
  randomBytes: number;
  sequenced?: boolean;
}

let seq = 0;

/** A time-ordered id made at `at` (epoch ms) in this format. */
export function timeOrderedId(format: IdFormat, at: number, random: Random): string {
  const time = Math.max(0, Math.floor(at)).toString(16).padStart(12, '0');
  let sequence = '';
  if (format.sequenced) {
    seq = (seq + 1) & 0xffff;
    sequence = seq.toString(16).padStart(4, '0');
  }
  const head = format.prefix === undefined ? '' : `${format.prefix}_`;
  return `${head}${time}${sequence}${random.bytes(format.randomBytes).toString('base64url')}`;
}
