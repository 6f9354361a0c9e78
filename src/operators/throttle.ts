import { createHmac } from 'node:crypto';
import { deriveKey, oldestHashKey } from '../util/derive-key.js';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import ipaddr from 'ipaddr.js';
import type { Database } from '../db/schema.js';
import { adoptLegacy, legacyKeysOf, rewriteLegacyKeys } from './throttle-legacy.js';

/**
 * Sign-in throttling that slows guessing without handing an attacker a way to lock real operators
 * out. There is no per-operator lock on the password: failures count per (operator, client
 * address) and per client address (an IPv6 /64 counts as one), and each key, past a few free
 * failures, waits a doubling delay. An attacker guessing one operator's password from their own
 * addresses slows only those addresses; the operator signs in from theirs as usual. The second
 * factor alone is counted per operator (SECOND_FACTOR_RULE), which only a holder of the password
 * can move. Failures against one name from everywhere (OPERATOR_RULE) lock that name for
 * unfamiliar networks only. State lives in the database, so every serving node applies the same counts.
 * A name is kept only as a keyed hash (nameDigest): whatever is typed into the name field (an
 * email address, a phone number) is counted per name without being stored.
 */
export interface ThrottleRule {
  /** Failures allowed before any delay. */
  free: number;
  /** The first delay, doubled by each further failure. */
  baseMs: number;
  maxMs: number;
}

export const PAIR_RULE: ThrottleRule = { free: 5, baseMs: 1_000, maxMs: 15 * 60_000 };
export const ADDRESS_RULE: ThrottleRule = { free: 20, baseMs: 1_000, maxMs: 60 * 60_000 };
/**
 * Wrong TOTP codes after the right password, per operator from any address: a guesser spread over
 * many addresses would otherwise try the million codes freely. Only someone who has the password
 * can move this count, so it locks out no one an attacker merely names.
 */
export const SECOND_FACTOR_RULE: ThrottleRule = { free: 5, baseMs: 30_000, maxMs: 15 * 60_000 };
/**
 * Failures against one operator name from every address together. Past these the operator is
 * locked for unfamiliar networks (doubling from a minute up to an hour while failures go on): from
 * a network where they have not signed in lately, the password is not even checked unless a valid,
 * unused TOTP code comes with it. Their usual networks are never locked, and a real operator on a
 * new one passes with their authenticator; an attacker spread over many addresses tests no more
 * passwords until the lock lapses. See OperatorService.signIn.
 */
export const OPERATOR_RULE: ThrottleRule = { free: 20, baseMs: 60_000, maxMs: 60 * 60_000 };
/** A key with no failure for this long starts from zero again. */
const FORGET_MS = 60 * 60_000;
/** A key with no failure for this long, and no wait left, is deleted (sweep). */
const KEEP_MS = 24 * FORGET_MS;
/** How often sign-in attempts on one node run the sweep. */
const SWEEP_EVERY_MS = FORGET_MS;

/**
 * The key names are hashed under: derived (HKDF) from the oldest hash key, which every node shares
 * and which a rotation that adds a newer key leaves in place. Retiring it starts every count afresh.
 */
export function throttleNameKey(hashKeys: ReadonlyArray<{ key: Buffer }>): Buffer {
  return deriveKey(oldestHashKey(hashKeys), 'operator sign-in throttle names');
}

export class SigninThrottle {
  /** When this node's attempts next run the sweep; the first attempt does. */
  private nextSweepAt = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly nameKey: Buffer,
    private readonly rules: { pair: ThrottleRule; address: ThrottleRule; factor: ThrottleRule; operator: ThrottleRule } = { pair: PAIR_RULE, address: ADDRESS_RULE, factor: SECOND_FACTOR_RULE, operator: OPERATOR_RULE },
  ) {}

  /** A name as the throttle keeps it: case-folded, then keyed-hashed (128 bits, no name recoverable). */
  private nameDigest(name: string): string {
    return createHmac('sha256', this.nameKey).update(name.toLowerCase()).digest('hex').slice(0, 32);
  }

  /**
   * Reserves one attempt on the (name, address) and address keys before the password is checked,
   * counted as a failure at once: a key's count and wait move in one atomic upsert that refuses
   * while the key waits, so guesses sent together are counted in order, as if sent one after
   * another (checking first and counting after let every guess of a burst past the check). 0 when
   * reserved, else the milliseconds to wait (nothing left counted). A success hands the address
   * reservation back (succeeded), as does an attempt whose password was never checked (release).
   */
  async reserve(name: string, address: string | null, now: number): Promise<number> {
    await this.sweepIfDue(now);
    await adoptLegacy(this.db, legacyKeysOf(name, addressKey(address)), (n) => this.nameDigest(n), FORGET_MS);
    const taken: Array<{ key: string; kind: 'pair' | 'address' }> = [];
    for (const k of keysOf(this.nameDigest(name), address)) {
      if (await this.take(k.key, this.rules[k.kind], now)) {
        taken.push(k);
        continue;
      }
      for (const t of taken) await this.giveBack(t.key, this.rules[t.kind]);
      return Math.max(1, await this.waitOf(k.key, now));
    }
    return 0;
  }

  /** Hands back a reservation whose password was never checked (the check refused as busy). */
  async release(name: string, address: string | null): Promise<void> {
    for (const { key, kind } of keysOf(this.nameDigest(name), address)) await this.giveBack(key, this.rules[kind]);
  }

  /** Milliseconds this operator name stays locked for unfamiliar networks (OPERATOR_RULE); 0 when it is not. */
  async operatorRetryAfter(name: string, now: number): Promise<number> {
    await adoptLegacy(this.db, legacyKeysOf(name), (n) => this.nameDigest(n), FORGET_MS);
    return this.waitOf(operatorKey(this.nameDigest(name)), now);
  }

  /**
   * Counts an attempt against this operator name before its password is checked, as reserve()
   * does per address: true when counted (the name was not locked), false when the name is locked
   * for unfamiliar networks (nothing counted: operatorFailed counts a failure then, which keeps
   * the lock going). Guesses from many networks sent together reach the lock in order.
   */
  reserveName(name: string, now: number): Promise<boolean> {
    return this.take(operatorKey(this.nameDigest(name)), this.rules.operator, now);
  }

  /** Hands back reserveName's count: the attempt succeeded, failed on its second factor, or was never checked. */
  async releaseName(name: string): Promise<void> {
    await this.giveBack(operatorKey(this.nameDigest(name)), this.rules.operator);
  }

  /** A failure against this operator name, from any address, while it is locked (not reserved). */
  async operatorFailed(name: string, now: number): Promise<void> {
    await this.count(operatorKey(this.nameDigest(name)), this.rules.operator, now);
  }

  /** Milliseconds before this operator's second factor may be tried again, from anywhere. */
  factorRetryAfter(operatorId: string, now: number): Promise<number> {
    return this.waitOf(factorKey(operatorId), now);
  }

  /**
   * Reserves a second-factor attempt for this operator before the code is checked, as reserve()
   * does for the password: 0 when reserved (a wrong code stays counted), else the milliseconds to wait.
   */
  async reserveFactor(operatorId: string, now: number): Promise<number> {
    const key = factorKey(operatorId);
    return (await this.take(key, this.rules.factor, now)) ? 0 : Math.max(1, await this.waitOf(key, now));
  }

  /** Hands back a second-factor reservation whose code was not wrong (replayed, or the secret unreadable). */
  async releaseFactor(operatorId: string): Promise<void> {
    await this.giveBack(factorKey(operatorId), this.rules.factor);
  }

  /** Milliseconds a key waits before it may be tried again; 0 when it may now. */
  private async waitOf(key: string, now: number): Promise<number> {
    const row = await this.db.selectFrom('signin_throttle').select('blocked_until').where('key', '=', key).executeTakeFirst();
    return row ? Math.max(0, Number(row.blocked_until) - now) : 0;
  }

  /**
   * Counts one attempt on a key unless it waits, in one statement: the row's lock (PostgreSQL) or
   * the single writer (SQLite) orders concurrent attempts, each seeing the count and wait the one
   * before left. The wait an attempt past the free ones earns is set by that same statement, so
   * the next attempt is refused however soon it comes. False when the key waits (nothing counted).
   */
  private async take(key: string, rule: ThrottleRule, now: number): Promise<boolean> {
    const failures = sql<number>`(case when signin_throttle.last_failure_at < ${sql.lit(now - FORGET_MS)} then 1 else signin_throttle.failures + 1 end)`;
    // The doubling delays as CASE arms (few: they reach maxMs within a dozen), the same in both dialects.
    const arms: ReturnType<typeof sql>[] = [];
    for (let over = 1; ; over++) {
      const d = delayOf(rule, over);
      if (d >= rule.maxMs) break;
      arms.push(sql`when ${failures} = ${sql.lit(rule.free + over)} then ${sql.lit(now + d)}`);
    }
    const blocked = sql<number>`case when ${failures} <= ${sql.lit(rule.free)} then 0 ${sql.join(arms, sql` `)} else ${sql.lit(now + rule.maxMs)} end`;
    const row = await this.db
      .insertInto('signin_throttle')
      .values({ key, failures: 1, blocked_until: rule.free >= 1 ? 0 : now + delayOf(rule, 1 - rule.free), last_failure_at: now })
      .onConflict((oc) =>
        oc
          .column('key')
          .doUpdateSet({ failures, blocked_until: blocked, last_failure_at: now })
          .where('signin_throttle.blocked_until', '<=', now),
      )
      .returning(['failures'])
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Counts a failure against a locked operator name (OPERATOR_RULE), after the check: it gates, it never refuses. */
  private async count(key: string, rule: ThrottleRule, now: number): Promise<void> {
    // One atomic upsert counts the failure whichever node saw it; a key forgotten for an hour restarts at 1.
    const row = await this.db
      .insertInto('signin_throttle')
      .values({ key, failures: 1, blocked_until: 0, last_failure_at: now })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          failures: sql`case when signin_throttle.last_failure_at < ${now - FORGET_MS} then 1 else signin_throttle.failures + 1 end`,
          last_failure_at: now,
        }),
      )
      .returning(['failures'])
      .executeTakeFirstOrThrow();
    const over = Number(row.failures) - rule.free;
    if (over > 0) {
      const until = now + delayOf(rule, over);
      await this.db.updateTable('signin_throttle').set({ blocked_until: until }).where('key', '=', key).where('blocked_until', '<', until).execute();
    }
  }

  /** Uncounts one attempt; back within the free ones, the wait it earned goes too. */
  private async giveBack(key: string, rule: ThrottleRule): Promise<void> {
    await this.db
      .updateTable('signin_throttle')
      .set({
        failures: sql<number>`case when failures > 0 then failures - 1 else 0 end`,
        blocked_until: sql<number>`case when failures - 1 <= ${sql.lit(rule.free)} then 0 else blocked_until end`,
      })
      .where('key', '=', key)
      .execute();
  }

  /**
   * A success forgets the (operator, address) failures, not the address's: an attacker holding
   * one valid account must not be able to wipe their address's count by signing in with it.
   */
  async succeeded(name: string, address: string | null, now: number, operatorId?: string): Promise<void> {
    await this.db.deleteFrom('signin_throttle').where('key', 'in', [pairKey(this.nameDigest(name), address), ...(operatorId ? [factorKey(operatorId)] : [])]).execute();
    // The address's count keeps its failures, not this success's reservation.
    await this.giveBack(`addr:${addressKey(address)}`, this.rules.address);
    await this.sweepIfDue(now);
  }

  /**
   * Deletes the keys with no failure for a day and no wait left, and moves any key an older
   * release wrote under a plain name to its keyed form (throttle-legacy.ts). Run by a serving node
   * before it serves, and by sign-in attempts at most once per SWEEP_EVERY_MS (failed ones too: a
   * deployment whose operators sign in through OIDC may see no successful password sign-in).
   */
  async sweep(now: number): Promise<{ deleted: number; rekeyed: number }> {
    this.nextSweepAt = now + SWEEP_EVERY_MS;
    const r = await this.db.deleteFrom('signin_throttle').where('last_failure_at', '<', now - KEEP_MS).where('blocked_until', '<', now).executeTakeFirst();
    const rekeyed = await rewriteLegacyKeys(this.db, (n) => this.nameDigest(n), FORGET_MS);
    return { deleted: Number(r.numDeletedRows), rekeyed };
  }

  private async sweepIfDue(now: number): Promise<void> {
    if (now >= this.nextSweepAt) await this.sweep(now);
  }
}

/** The part of an address one party is assumed to hold: the address, or its /64 for IPv6. */
function addressKey(address: string | null): string {
  if (!address || !ipaddr.isValid(address)) return 'unknown';
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  return `${(ip as ipaddr.IPv6).toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}

/**
 * The network an operator signs in from, for "their usual network": the /24 of an IPv4 address (a
 * home or office line moves within it), the /64 of an IPv6 one; null when unreadable.
 */
export function networkOf(address: string | null): string | null {
  if (!address || !ipaddr.isValid(address)) return null;
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return `${ip.toString().split('.').slice(0, 3).join('.')}.0/24`;
  return addressKey(address);
}

function delayOf(rule: ThrottleRule, over: number): number {
  return Math.min(rule.maxMs, rule.baseMs * 2 ** Math.min(over - 1, 30));
}

function factorKey(operatorId: string): string {
  return `totp:${operatorId}`;
}

function operatorKey(digest: string): string {
  return `op:${digest}`;
}

function pairKey(digest: string, address: string | null): string {
  return `pair:${digest}|${addressKey(address)}`;
}

function keysOf(digest: string, address: string | null): Array<{ key: string; kind: 'pair' | 'address' }> {
  return [
    { key: pairKey(digest, address), kind: 'pair' },
    { key: `addr:${addressKey(address)}`, kind: 'address' },
  ];
}
