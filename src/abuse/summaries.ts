import { createHash } from 'node:crypto';
import type { CompiledAbusePolicy } from '../policy/index.js';
import type { LookupEvent } from './events.js';

/**
 * What a partition tells the global stage about its accounts: not every event, only what the
 * cross-account detectors read, once per account per coordination bucket (an hour by default).
 *
 * Coordination (SynchroTrap) counts, per bucket, the distinct objects an account acted on (its
 * address, subnet, network, device, and the blocks of its dense calls), never how often; farming
 * reads where an account first appeared; the clustering's shared infrastructure counts distinct
 * accounts per key. So a summary is one "context" event per distinct (account, bucket, address,
 * subnet, ASN, device, network) the account called from, with no numbers in it, plus one per
 * (account, bucket, block) of its dense calls carrying that call's block counts (a slice of a range
 * being walked is what coordination and the cluster-wide enumeration sum look at). Nothing an
 * answer revealed goes further (`revealed` is empty). An organic account making a hundred calls
 * an hour from home sends one; a scanner walking blocks sends one per block.
 *
 * Ids are a digest of what they summarise, so a summary published twice (a take-over replaying
 * the partition's stored events, a batch redelivered) is the same id, which the global engine
 * skips like any redelivered event.
 */
export class Summarizer {
  private readonly bucketMs: number;
  private readonly denseMin: number;
  private readonly denseMaxBlocks: number;
  /** Keys summarised in the latest buckets: a context already sent this bucket is not sent again. */
  private readonly sent = new Map<number, Set<string>>();
  private newest = -1;

  constructor(policy: CompiledAbusePolicy) {
    this.bucketMs = policy.coordination.bucketMs;
    this.denseMin = policy.enumeration.denseMinNumbers;
    this.denseMaxBlocks = policy.enumeration.denseMaxBlocks;
  }

  /** The summaries this event adds (none when its contexts were already sent this bucket). */
  add(e: LookupEvent): LookupEvent[] {
    const bucket = Math.floor(e.at / this.bucketMs);
    const sent = this.bucketSet(bucket);
    const out: LookupEvent[] = [];
    const where = `${e.accountId}\n${bucket}\n${e.ip}\n${e.subnet}\n${e.asn ?? ''}\n${e.deviceId ?? ''}\n${e.network}`;
    if (!sent.has(where)) {
      sent.add(where);
      out.push(this.summary(e, where, { numbers: 0, blocks: {} }));
    }
    const top = denseBlock(e.blocks, this.denseMin, this.denseMaxBlocks);
    if (top !== undefined) {
      const key = `${where}\n${top}`;
      if (!sent.has(key)) {
        sent.add(key);
        out.push(this.summary(e, key, { numbers: e.numbers, blocks: e.blocks }));
      }
    }
    return out;
  }

  private summary(e: LookupEvent, key: string, what: { numbers: number; blocks: Record<string, number> }): LookupEvent {
    return {
      v: 1,
      id: `s_${createHash('sha256').update(key).digest('base64url').slice(0, 30)}`,
      at: e.at,
      accountId: e.accountId,
      ...(e.deviceId !== undefined ? { deviceId: e.deviceId } : {}),
      ip: e.ip,
      subnet: e.subnet,
      ...(e.subnet48 !== undefined ? { subnet48: e.subnet48 } : {}),
      ...(e.asn !== undefined ? { asn: e.asn } : {}),
      ...(e.country !== undefined ? { country: e.country } : {}),
      network: e.network,
      operation: e.operation,
      outcome: e.outcome,
      kind: e.kind,
      numbers: what.numbers,
      newNumbers: 0,
      // Matches are the partition's (answers, hit rates): the global stage's yardsticks get none.
      matched: 0,
      revealed: [],
      blocks: what.blocks,
      accountCreatedAt: e.accountCreatedAt,
      ...(e.phoneRegion !== undefined ? { phoneRegion: e.phoneRegion } : {}),
    };
  }

  /** The set of one bucket; only the two newest buckets are kept (a late event of the previous hour is still recognised). */
  private bucketSet(bucket: number): Set<string> {
    let set = this.sent.get(bucket);
    if (set) return set;
    set = new Set();
    this.sent.set(bucket, set);
    if (bucket > this.newest) {
      this.newest = bucket;
      for (const b of this.sent.keys()) if (b < bucket - 1) this.sent.delete(b);
    }
    return set;
  }
}

/** The block of a dense call (the feature store's rule: one block holds many of its numbers, and it touches few). */
function denseBlock(blocks: Record<string, number>, min: number, maxBlocks: number): string | undefined {
  let n = 0;
  let top: string | undefined;
  let topCount = 0;
  for (const b in blocks) {
    n++;
    if (blocks[b]! > topCount) {
      topCount = blocks[b]!;
      top = b;
    }
  }
  return topCount >= min && n <= maxBlocks ? top : undefined;
}
