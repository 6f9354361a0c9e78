/**
 * Lookup events partitioned by account over P Redis streams (FINDGUARD_EVENT_PARTITIONS, default
 * 1). Every event and sign-up of an account goes to one partition, so the per-account windows of
 * the abuse engine (enumeration, answers) see all of an account's calls in one process; what needs
 * every account at once (coordination, farming, clustering) runs in the global stage
 * (global-stage.ts), fed by the partitions' summaries (summaries.ts).
 */

export const MAX_PARTITIONS = 256;

/**
 * Which partition an account's events go to: FNV-1a (32 bits) of its id, modulo P. Hand-written
 * (six lines): it must be the same in every process and every release, on the publisher and on
 * the consumer filtering stored events at a take-over, so it is pinned here rather than taken
 * from a library whose hash could change with a version.
 */
export function partitionOf(accountId: string, partitions: number): number {
  if (partitions <= 1) return 0;
  return fnv1a32(accountId) % partitions;
}

/** FNV-1a, 32 bits, of a string's UTF-16 code units, unsigned. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The stream of partition p: the key itself with one partition (so P = 1 is exactly the deployment of before), else `<key>:<p>`. */
export function partitionStreamKey(key: string, p: number, partitions: number): string {
  return partitions <= 1 ? key : `${key}:${p}`;
}

/** The stream the partitions' owners publish their per-account summaries to, for the global stage. */
export function summariesStreamKey(key: string): string {
  return `${key}:summaries`;
}
