import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, DecisionsTable } from '../db/schema.js';
import { exposureCounts, exposureRule, holderSince } from './exposure-rule.js';
import { iso } from './common.js';

/**
 * What the regulator's report (GDPR Art. 33(3)) says that findguard can state from its records,
 * for the campaigns an incident gathers: who was exposed (counted by the country of their own
 * phone as stored, never a number), how many records, the window, the attacker accounts with
 * their origins and when each was stopped, and the decisions taken. A person adds what must be
 * judged (incident-records.ts PhaseFields). Nothing here reads a contact value: exposures hold
 * account ids, events hold number blocks (left out of the report) and account ids.
 */

export interface ReportFacts {
  campaignIds: string[];
  subjects: {
    /** Distinct accounts exposed. */
    total: number;
    /** By the country of the account's own phone as stored ('unknown' when none, or the account is erased). */
    byCountry: Array<{ country: string; accounts: number }>;
  };
  records: {
    /** (attacker account, exposed account) pairs: each is one revelation of one account to one attacker. */
    total: number;
    byCountry: Array<{ country: string; records: number }>;
  };
  dataRevealed: string[];
  window: { firstSeen: string | null; lastSeen: string | null; firstExposure: string | null; lastExposure: string | null };
  attackers: Array<{
    accountId: string;
    campaignId: string;
    /** Distinct accounts revealed to it. */
    revealed: number;
    countries: Array<{ country: string | null; lookups: number }>;
    asns: Array<{ asn: number | null; lookups: number }>;
    /** When the suspension standing on it began (null: none stands; one a reinstatement lifted does not count). */
    stoppedAt: string | null;
  }>;
  /** Every recorded decision against the campaigns, their clusters or their accounts: the measures taken. */
  measuresTaken: Array<{ decisionId: string; at: string; scope: string; subject: string; action: string; source: string; actor: string; reason: string; liftedAt: string | null; shadow: boolean }>;
  /** SHA-256 of the evidence bundle (canonical JSON, RFC 8785) these facts were computed from. */
  evidenceSha256: string;
}

/** The exposures and decisions the report rests on, as canonical JSON hashes them. */
export interface EvidenceBundle {
  format: 'findguard.incident-evidence/1';
  incidentId: string;
  campaignIds: string[];
  exposures: Array<{ campaignId: string; attackerAccountId: string; revealedAccountId: string; at: string }>;
  decisions: ReportFacts['measuresTaken'];
}

export const DATA_REVEALED: readonly string[] = [
  'account id',
  'handle',
  'the fact that the account is registered under a phone number the attacker held',
];

/** What a CSV of exposures lists: one row per exposed account. */
export interface ExposureRow {
  accountId: string;
  handle: string | null;
  country: string;
  firstExposedAt: string;
  lastExposedAt: string;
  attackerAccounts: number;
  campaignIds: string[];
}

const CHUNK = 500;

/** SHA-256 (hex) of the bundle's RFC 8785 canonical JSON. */
export function evidenceHash(bundle: EvidenceBundle): string {
  return createHash('sha256').update(canonicalize(bundle) ?? '').digest('hex');
}

/**
 * The incident's exposures as the notices see them (exposure-rule.ts): an account of one of the
 * campaigns is no victim of another, even when it was revealed before it was known as a member (the
 * campaign extended with it keeps that exposure row), and what an operator's reinstatement judged a
 * person's lookups is no exposure.
 */
export async function evidenceBundle(db: Kysely<Database>, incidentId: string, campaignIds: readonly string[]): Promise<EvidenceBundle> {
  const ids = [...campaignIds].sort();
  const counts = await exposureCounts(db, ids);
  const stored =
    ids.length === 0
      ? []
      : await db
          .selectFrom('exposures')
          .select(['campaign_id', 'attacker_account_id', 'revealed_account_id', 'at'])
          .where('campaign_id', 'in', ids)
          .orderBy('campaign_id')
          .orderBy('attacker_account_id')
          .orderBy('revealed_account_id')
          .orderBy('at')
          .execute();
  const exposures = stored.filter(counts);
  return {
    format: 'findguard.incident-evidence/1',
    incidentId,
    campaignIds: ids,
    exposures: exposures.map((e) => ({ campaignId: e.campaign_id, attackerAccountId: e.attacker_account_id, revealedAccountId: e.revealed_account_id, at: iso(Number(e.at)) })),
    decisions: await decisionsFor(db, ids),
  };
}

async function decisionsFor(db: Kysely<Database>, campaignIds: readonly string[]): Promise<ReportFacts['measuresTaken']> {
  if (campaignIds.length === 0) return [];
  const campaigns = await db.selectFrom('campaigns').select(['id', 'cluster_id']).where('id', 'in', campaignIds).execute();
  const clusters = [...new Set(campaigns.map((c) => c.cluster_id))];
  const attackers = await attackerIds(db, campaignIds);
  const found = new Map<string, ReportFacts['measuresTaken'][number]>();
  const add = (rows: DecisionRow[]) => {
    for (const d of rows) {
      found.set(d.id, {
        decisionId: d.id,
        at: iso(Number(d.created_at)),
        scope: d.scope,
        subject: d.subject,
        action: d.action,
        source: d.source,
        actor: d.actor,
        reason: d.reason,
        liftedAt: d.lifted_at === null ? null : iso(Number(d.lifted_at)),
        shadow: Number(d.shadow) === 1,
      });
    }
  };
  add(await baseDecisions(db).where('campaign_id', 'in', [...campaignIds]).execute());
  if (clusters.length > 0) add(await baseDecisions(db).where('cluster_id', 'in', clusters).execute());
  for (let i = 0; i < attackers.length; i += CHUNK) {
    const chunk = attackers.slice(i, i + CHUNK).map((a) => a.accountId);
    add(await baseDecisions(db).where('scope', '=', 'account').where('subject', 'in', chunk).execute());
  }
  return [...found.values()].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.decisionId < b.decisionId ? -1 : 1));
}

type DecisionRow = Pick<DecisionsTable, 'id' | 'created_at' | 'scope' | 'subject' | 'action' | 'source' | 'actor' | 'reason' | 'lifted_at' | 'shadow'>;

function baseDecisions(db: Kysely<Database>) {
  return db.selectFrom('decisions').select(['id', 'created_at', 'scope', 'subject', 'action', 'source', 'actor', 'reason', 'lifted_at', 'shadow']);
}

/** Each member once, with the first of its campaigns `keep` accepts it in. */
async function attackerIds(
  db: Kysely<Database>,
  campaignIds: readonly string[],
  keep: (a: { accountId: string; campaignId: string }) => boolean = () => true,
): Promise<Array<{ accountId: string; campaignId: string }>> {
  if (campaignIds.length === 0) return [];
  const rows = await db.selectFrom('campaign_accounts').select(['account_id', 'campaign_id']).where('campaign_id', 'in', [...campaignIds]).orderBy('account_id').orderBy('campaign_id').execute();
  const seen = new Set<string>();
  const out: Array<{ accountId: string; campaignId: string }> = [];
  for (const r of rows) {
    if (seen.has(r.account_id) || !keep({ accountId: r.account_id, campaignId: r.campaign_id })) continue;
    seen.add(r.account_id);
    out.push({ accountId: r.account_id, campaignId: r.campaign_id });
  }
  return out;
}

/** The country of each account's own phone as stored (the app's, else the derived one). */
async function countriesOf(db: Kysely<Database>, accountIds: readonly string[]): Promise<Map<string, { country: string; handle: string; mirroredAt: number }>> {
  const out = new Map<string, { country: string; handle: string; mirroredAt: number }>();
  for (let i = 0; i < accountIds.length; i += CHUNK) {
    const rows = await db
      .selectFrom('accounts')
      .select(['id', 'handle', 'phone_region', 'derived_phone_region', 'mirrored_at'])
      .where('id', 'in', accountIds.slice(i, i + CHUNK))
      .execute();
    for (const r of rows) out.set(r.id, { country: r.phone_region ?? r.derived_phone_region ?? 'unknown', handle: r.handle, mirroredAt: Number(r.mirrored_at) });
  }
  return out;
}

/**
 * One row per exposed person, first exposed first. An account id the app erased and mirrored again
 * names two people: exposures from before its current holder's mirroring (exposure-rule.ts holderSince) were a
 * predecessor's, a row of their own without handle or country (the holder's say nothing of whom
 * the attackers saw), and only the later ones are the holder's, as the notices count them.
 */
export async function exposureRows(db: Kysely<Database>, bundle: EvidenceBundle): Promise<ExposureRow[]> {
  const found = await countriesOf(db, [...new Set(bundle.exposures.map((e) => e.revealedAccountId))]);
  const holderOf = (accountId: string, at: string) => {
    const a = found.get(accountId);
    return a && Date.parse(at) >= holderSince(a.mirroredAt) ? a : undefined;
  };
  const per = new Map<string, { accountId: string; holder: ReturnType<typeof holderOf>; first: string; last: string; attackers: Set<string>; campaigns: Set<string> }>();
  for (const e of bundle.exposures) {
    const holder = holderOf(e.revealedAccountId, e.at);
    const key = `${holder ? 'holder' : 'before'}\n${e.revealedAccountId}`;
    const p = per.get(key) ?? { accountId: e.revealedAccountId, holder, first: e.at, last: e.at, attackers: new Set<string>(), campaigns: new Set<string>() };
    if (e.at < p.first) p.first = e.at;
    if (e.at > p.last) p.last = e.at;
    p.attackers.add(e.attackerAccountId);
    p.campaigns.add(e.campaignId);
    per.set(key, p);
  }
  return [...per.values()]
    .map((p) => ({
      accountId: p.accountId,
      handle: p.holder?.handle ?? null,
      country: p.holder?.country ?? 'unknown',
      firstExposedAt: p.first,
      lastExposedAt: p.last,
      attackerAccounts: p.attackers.size,
      campaignIds: [...p.campaigns].sort(),
    }))
    .sort((a, b) => (a.firstExposedAt < b.firstExposedAt ? -1 : a.firstExposedAt > b.firstExposedAt ? 1 : a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0));
}

/** The generated part of the report, from the bundle and the stored events and accounts. */
export async function reportFacts(db: Kysely<Database>, bundle: EvidenceBundle): Promise<ReportFacts> {
  const rows = await exposureRows(db, bundle);
  const subjects = new Map<string, number>();
  const records = new Map<string, number>();
  // Pairs, not exposure rows: an attacker account in two of the campaigns has each revelation stored once per campaign.
  let recordsTotal = 0;
  for (const r of rows) {
    subjects.set(r.country, (subjects.get(r.country) ?? 0) + 1);
    records.set(r.country, (records.get(r.country) ?? 0) + r.attackerAccounts);
    recordsTotal += r.attackerAccounts;
  }
  const revealedBy = new Map<string, Set<string>>();
  for (const e of bundle.exposures) revealedBy.set(e.attackerAccountId, (revealedBy.get(e.attackerAccountId) ?? new Set()).add(e.revealedAccountId));

  const campaigns = bundle.campaignIds.length === 0 ? [] : await db.selectFrom('campaigns').select(['first_seen', 'last_seen']).where('id', 'in', bundle.campaignIds).execute();
  const times = bundle.exposures.map((e) => e.at).sort();
  // A member an operator's reinstatement judged a person in its campaign is no attacker there (exposure-rule.ts).
  const rule = await exposureRule(db, bundle.campaignIds);
  const attackers = await attackerIds(db, bundle.campaignIds, (a) => !rule.isPerson(a.campaignId, a.accountId));
  const out: ReportFacts['attackers'] = [];
  for (let i = 0; i < attackers.length; i += CHUNK) {
    const chunk = attackers.slice(i, i + CHUNK);
    const ids = chunk.map((a) => a.accountId);
    const origins = await db
      .selectFrom('lookup_events')
      .select(['account_id', 'country', 'asn', (eb) => eb.fn.countAll<number>().as('n')])
      .where('account_id', 'in', ids)
      .groupBy(['account_id', 'country', 'asn'])
      .execute();
    const stops = await db
      .selectFrom('enforcement_actions')
      .select(['account_id', (eb) => eb.fn.min('at').as('first')])
      .where('action', '=', 'suspend')
      .where('reversed_by', 'is', null)
      .where('account_id', 'in', ids)
      .groupBy('account_id')
      .execute();
    const stoppedAt = new Map(stops.map((s) => [s.account_id, Number(s.first)]));
    for (const a of chunk) {
      const mine = origins.filter((o) => o.account_id === a.accountId);
      const countries = new Map<string | null, number>();
      const asns = new Map<number | null, number>();
      for (const o of mine) {
        countries.set(o.country, (countries.get(o.country) ?? 0) + Number(o.n));
        const asn = o.asn === null ? null : Number(o.asn);
        asns.set(asn, (asns.get(asn) ?? 0) + Number(o.n));
      }
      const stop = stoppedAt.get(a.accountId);
      out.push({
        accountId: a.accountId,
        campaignId: a.campaignId,
        revealed: revealedBy.get(a.accountId)?.size ?? 0,
        countries: ranked(countries).map(([country, lookups]) => ({ country, lookups })),
        asns: ranked(asns).map(([asn, lookups]) => ({ asn, lookups })),
        stoppedAt: stop === undefined ? null : iso(stop),
      });
    }
  }
  return {
    campaignIds: bundle.campaignIds,
    subjects: { total: rows.length, byCountry: ranked(subjects).map(([country, accounts]) => ({ country, accounts })) },
    records: { total: recordsTotal, byCountry: ranked(records).map(([country, n]) => ({ country, records: n })) },
    dataRevealed: [...DATA_REVEALED],
    window: {
      firstSeen: campaigns.length === 0 ? null : iso(Math.min(...campaigns.map((c) => Number(c.first_seen)))),
      lastSeen: campaigns.length === 0 ? null : iso(Math.max(...campaigns.map((c) => Number(c.last_seen)))),
      firstExposure: times[0] ?? null,
      lastExposure: times.at(-1) ?? null,
    },
    attackers: out,
    measuresTaken: bundle.decisions,
    evidenceSha256: evidenceHash(bundle),
  };
}

function ranked<K>(map: Map<K, number>): Array<[K, number]> {
  return [...map].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
}
