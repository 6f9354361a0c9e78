/** The per-key state the feature store keeps beside each account's: devices, addresses, subnets, networks. */

export type InfraKind = 'ip' | 'subnet' | 'asn' | 'device';
export const INFRA_KINDS: readonly InfraKind[] = ['ip', 'subnet', 'asn', 'device'];

export const RECENT_MAX = 8;

export /** Small most-recent-first list of distinct values with when each was last seen. */
class Recent {
  readonly values: string[] = [];
  readonly at: number[] = [];
  constructor(private readonly max: number) {}

  note(v: string, at: number): void {
    const values = this.values;
    const times = this.at;
    if (values[0] === v) {
      // The usual case: the same address, country or block as last time.
      if (at > times[0]!) this.at[0] = at;
      return;
    }
    // Moved to the front in place: the value's old slot (or, for a new value, the last slot, the
    // oldest dropped when full) is filled by shifting the ones before it. splice() and unshift()
    // made two arrays of garbage a call, and an account's address and device change call to call.
    let i = values.indexOf(v);
    if (i < 0) {
      if (values.length < this.max) {
        values.push(v);
        times.push(at);
      }
      i = values.length - 1;
    }
    for (let j = i; j > 0; j--) {
      values[j] = values[j - 1]!;
      times[j] = times[j - 1]!;
    }
    values[0] = v;
    times[0] = at;
  }

  countSince(t: number): number {
    let n = 0;
    for (const a of this.at) if (a >= t) n++;
    return n;
  }
}

/** A device, address, subnet or network and the accounts seen on it. */
export class InfraState {
  lastAt = 0;
  firstAt: number;
  /** Account id -> first seen on the key; the first `membersPerKey` accounts. */
  readonly members = new Map<string, number>();
  /** Distinct accounts beyond the cap, as 32-bit hashes (bounded: a lower bound past OVERFLOW_MAX). */
  private overflow: Set<number> | undefined;
  calls = 0;
  hostingCalls = 0;
  newAccountCalls = 0;
  signups = 0;
  /** Countries the key was used from, most recent first (a household's device stays in one). */
  readonly countries = new Recent(RECENT_MAX);

  constructor(
    readonly kind: InfraKind,
    readonly key: string,
    at: number,
  ) {
    this.firstAt = at;
  }

  /** Distinct accounts seen on the key (a lower bound for the busiest keys). */
  get memberCount(): number {
    return this.members.size + (this.overflow?.size ?? 0);
  }

  addMember(accountId: string, at: number, cap: number): void {
    if (this.members.has(accountId)) return;
    if (this.members.size < cap) {
      this.members.set(accountId, at);
      return;
    }
    // A full key is a busy one (carrier NAT, a network): replacing members on every call was the
    // main cost of the hot path, and its rarity is settled anyway. Count, don't keep.
    this.overflow ??= new Set();
    if (this.overflow.size < OVERFLOW_MAX) this.overflow.add(hash32(accountId));
  }
}

const OVERFLOW_MAX = 65_536;

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
