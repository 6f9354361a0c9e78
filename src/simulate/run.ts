import { readFileSync } from 'node:fs';
import { Compile } from 'typebox/compile';
import { accountId } from '../population/index.js';
import type { Driver } from './driver.js';
import { Engine, type Actor, type EngineProgress } from './engine.js';
import { AccountFarm } from './farm.js';
import type { Recorder } from './metrics.js';
import { auc, OracleProbe, type NumberClass } from './oracle.js';
import { OrganicUsers } from './organic.js';
import { SIMULATED_HASH_RATE } from './pow.js';
import { ORGANIC_KINDS } from './international.js';
import { organicWithDefaults, ScenarioSpec, type AttackerSpec } from './scenario.js';
import { BUILT_IN_SCENARIOS } from './scenarios.js';
import { ListAttacker } from './scans.js';
import { ContactsOracle, type ContactsModeResult } from './contacts.js';
import { World, type IpSource } from './world.js';

export interface AttackerResult {
  name: string;
  kind: string;
  accounts: number;
  ips: number;
  countries: string[];
  targets: number;
  exposed: number;
  exposure: number;
  requests: number;
  numbersQueried: number;
  answered: number;
  refusedByStatus: Record<string, number>;
  refusedByScope: Record<string, number>;
  containment: {
    contained: boolean;
    /**
     * The slowest attacker account: simulated minutes from its own first request until it was
     * suspended (as findguard recorded it; against a deployment, the first 403 it got).
     */
    minutes: number | null;
    /** From the attacker's first request until its last account was contained. */
    campaignMinutes?: number | null;
    numbersQueried: number;
  };
  cost: {
    accountsPer1000Exposed: number | null;
    ipsPer1000Exposed: number | null;
    /**
     * Fake accounts past the new-account tier (7 days old at their first request) on residential
     * addresses in their own phone country: what an attacker must buy or grow to look local.
     */
    agedLocalAccounts: number;
    agedLocalAccountsPer1000Exposed: number | null;
    /** Proof-of-work: hashes the fleet computed (in-process: the expected draw, charged in simulated time). */
    powHashes: number;
    /** The same in CPU-hours at the fleet's hash rate (SIMULATED_HASH_RATE unless the scenario sets one). */
    powCpuHours: number;
    powCpuHoursPer1000Exposed: number | null;
  };
  series: Array<{ hour: number; exposure: number; requests: number; refused: number }>;
  details: Record<string, unknown>;
}

export interface SimulationResult {
  scenario: string;
  /** The limits policy the run was under ('remote': a deployment's own, unknown to the simulator). */
  policy: string;
  description: string;
  seed: number;
  start: string;
  days: number;
  population: { atStart: number; joined: number; discoverable: number };
  attackers: AttackerResult[];
  organic: {
    newAccounts: number;
    activeAccounts: number;
    syncs: number;
    syncsRefused: number;
    syncRefusedShare: number;
    numbersSynced: number;
    lookups: number;
    lookupsRefused: number;
    refusedByScope: Record<string, number>;
    accountsSuspended: number;
    suspendedShare: number;
    /** Organic accounts suspended by cause ("cluster: coordination+enumeration", "account: answers"); in-process runs only. */
    suspendedBy?: Record<string, number>;
    /** Refused syncs by status, code, scope and rule (e.g. "429 rate_limited/account (scattered-list)"). */
    syncsRefusedByReason: Record<string, number>;
    /** Syncs of the whole book without a token: first syncs, reinstalls, new devices. */
    fullSyncs: number;
    fullSyncsRefused: number;
    /** The same figures per kind of user (international.ts): who the refusals fall on. */
    byKind: Record<string, { accounts: number; suspended: number; syncs: number; syncsRefused: number; syncRefusedShare: number; refusedByReason: Record<string, number> }>;
    /** Launch day only: the surge's arrivals and their first syncs (each <= bookMax numbers). */
    surge?: { country: string; arrived: number; firstSyncs: number; firstSyncsRefused: number; firstSyncsNeverAnswered: number; largestFirstSync: number; refusedByReason: Record<string, number> };
    /** Issue 15's targets: <= 0.01% suspended, <= 0.1% of syncs refused, no surge first sync refused. */
    harm: { suspendedPct: number; syncsRefusedPct: number; surgeFirstSyncsRefused: number | null; withinTargets: boolean };
    series: Array<{ hour: number; syncs: number; refused: number }>;
  };
  events: number;
  /** "My contacts" users (contacts.ts): exposedOutsideBook must be 0. Absent from results that predate it. */
  contactsMode?: ContactsModeResult;
}

/** Wall-clock observations, kept out of the reproducible result. */
export interface TimingReport {
  scenario: string;
  policy: string;
  wallSeconds: number;
  eventsPerSecond: number;
  oracle?: Array<{ probe: string; auc: Record<string, number> }>;
}

const checkScenario = Compile(ScenarioSpec);
/** The default policy's new-account tier: accounts younger than this are "new" (src/policy/builtin.ts). */
const NEW_ACCOUNT_TIER_MS = 7 * 86_400_000;

/** A built-in scenario by its own key: `constructor` or `toString` indexes Object.prototype, not a scenario. */
function builtInScenario(name: string): (() => ScenarioSpec) | undefined {
  return Object.hasOwn(BUILT_IN_SCENARIOS, name) ? BUILT_IN_SCENARIOS[name] : undefined;
}

/** A built-in scenario by name, or a JSON scenario file (validated; named fields override nothing else). */
export function loadScenario(nameOrFile: string): ScenarioSpec {
  const builtIn = builtInScenario(nameOrFile);
  if (builtIn) return builtIn();
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(nameOrFile, 'utf8'));
  } catch {
    throw new Error(`no built-in scenario "${nameOrFile}" and no readable JSON file of that name (built-ins: ${Object.keys(BUILT_IN_SCENARIOS).join(', ')})`);
  }
  // An array, null or a bare value has no fields to read `extends` from or to override with.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`scenario file ${nameOrFile}: / must be an object`);
  // A file may name a built-in as its base and override parts of it.
  const record = parsed as Record<string, unknown>;
  const base = typeof record.extends === 'string' ? builtInScenario(record.extends) : undefined;
  if (typeof record.extends === 'string' && !base) {
    throw new Error(`scenario file ${nameOrFile}: extends "${record.extends}", no built-in scenario (built-ins: ${Object.keys(BUILT_IN_SCENARIOS).join(', ')})`);
  }
  const merged = base ? { ...base(), ...record } : record;
  delete (merged as Record<string, unknown>).extends;
  if (!checkScenario.Check(merged)) {
    const first = [...checkScenario.Errors(merged)][0];
    throw new Error(`scenario file ${nameOrFile}: ${first ? `${first.instancePath || '/'} ${first.message}` : 'invalid'}`);
  }
  return merged;
}

function actorFor(spec: AttackerSpec): Actor & { timings?: OracleProbe['timings'] } {
  switch (spec.kind) {
    case 'range-scan':
    case 'random-scan':
    case 'list':
      return new ListAttacker(spec);
    case 'account-farm':
      return new AccountFarm(spec);
    case 'oracle-probe':
      return new OracleProbe(spec);
  }
}

export async function runScenario(
  spec: ScenarioSpec,
  ips: IpSource,
  makeDriver: (world: World) => Promise<Driver>,
  onProgress?: (p: EngineProgress, world: World) => void,
): Promise<{ result: SimulationResult; timing: TimingReport }> {
  const started = Date.now();
  const world = new World(spec, ips);
  // Every answer any actor gets passes the "my contacts" oracle.
  const contacts = new ContactsOracle(world);
  const driver = contacts.watch(await makeDriver(world));
  try {
    const engine = new Engine(world, driver, ips);
    const attackers = spec.attackers.map(actorFor);
    await engine.run([new OrganicUsers(), ...attackers], (p) => onProgress?.(p, world));
    const result: SimulationResult = { ...(await summarise(world, driver, engine.recorder, engine.events)), contactsMode: contacts.result() };
    const wallSeconds = (Date.now() - started) / 1000;
    const timing: TimingReport = { scenario: spec.name, policy: driver.policy, wallSeconds, eventsPerSecond: Math.round(engine.events / Math.max(wallSeconds, 0.001)) };
    for (const a of attackers) {
      if (!a.timings) continue;
      timing.oracle = [...a.timings].map(([probe, t]) => ({
        probe,
        auc: Object.fromEntries((['undiscoverable', 'two_factor_only', 'suspended'] as NumberClass[]).map((c) => [c, round(auc(t.unregistered, t[c]), 3)])),
      }));
    }
    return { result, timing };
  } finally {
    await driver.close();
  }
}

async function summarise(world: World, driver: Driver, rec: Recorder, events: number): Promise<SimulationResult> {
  let discoverable = 0;
  for (let i = 0; i < world.existing; i++) if (world.isDiscoverable(i)) discoverable++;
  const attackers: AttackerResult[] = [];
  for (const t of rec.attackers.values()) {
    const suspendedAt = await driver.suspended([...t.accounts]);
    // When each account stopped getting answers: findguard's record of the suspension where the
    // driver sees it, or the first 403 the account got (a new account held in the request path
    // before its suspension is written), whichever came first.
    const stopOf = (id: string): number | undefined => {
      const recorded = suspendedAt.get(id);
      const seen = t.blocked.get(id);
      if (recorded !== undefined && seen !== undefined) return Math.min(recorded, seen);
      return recorded ?? seen ?? (suspendedAt.has(id) ? world.end : undefined);
    };
    const active = [...t.accounts].filter((id) => t.lastAnswerAt.has(id) || stopOf(id) !== undefined);
    const contained = active.length > 0 && active.every((id) => stopOf(id) !== undefined && (t.lastAnswerAt.get(id) ?? -Infinity) <= stopOf(id)!);
    let slowest: number | undefined;
    let containedAt: number | undefined;
    if (contained) {
      for (const id of active) {
        const stop = stopOf(id)!;
        const took = Math.max(0, stop - (t.firstRequestOf.get(id) ?? stop));
        slowest = Math.max(slowest ?? 0, took);
        containedAt = Math.max(containedAt ?? stop, stop);
      }
    }
    const exposed = t.revealed.size;
    let agedLocal = 0;
    let powHashes = 0;
    for (const id of t.accounts) {
      powHashes += driver.work.hashesOf(id);
      const first = t.firstRequestOf.get(id);
      const created = t.createdAt.get(id);
      if (t.residential && first !== undefined && created !== undefined && first - created >= NEW_ACCOUNT_TIER_MS) agedLocal++;
    }
    const powCpuHours = powHashes / (t.hashRate ?? SIMULATED_HASH_RATE) / 3600;
    const per1000 = (x: number, digits = 2) => (exposed > 0 ? round((x * 1000) / exposed, digits) : null);
    attackers.push({
      name: t.name,
      kind: t.kind,
      accounts: t.accounts.size,
      ips: t.ips.size,
      countries: [...t.countries].sort(),
      targets: t.targets.size,
      exposed,
      exposure: t.targets.size > 0 ? round(exposed / t.targets.size, 6) : 0,
      requests: t.requests,
      numbersQueried: t.numbersQueried,
      answered: t.answered,
      refusedByStatus: sortKeys(t.refusedByStatus),
      refusedByScope: sortKeys(t.refusedByScope),
      containment: {
        contained,
        minutes: slowest !== undefined ? round(slowest / 60_000, 1) : null,
        campaignMinutes: containedAt !== undefined && t.firstRequestAt !== undefined ? round(Math.max(0, containedAt - t.firstRequestAt) / 60_000, 1) : null,
        numbersQueried: t.numbersQueried,
      },
      cost: {
        accountsPer1000Exposed: per1000(t.accounts.size),
        ipsPer1000Exposed: per1000(t.ips.size),
        agedLocalAccounts: agedLocal,
        agedLocalAccountsPer1000Exposed: per1000(agedLocal),
        powHashes,
        powCpuHours: round(powCpuHours, 6),
        powCpuHoursPer1000Exposed: per1000(powCpuHours, 6),
      },
      series: t.series.map((s) => ({ ...s, exposure: round(s.exposure, 6) })),
      details: t.extra,
    });
  }
  const organicIndices = [...rec.organicActive].sort((a, b) => a - b);
  const suspended = await driver.suspended(organicIndices.map(accountId));
  const causes = driver.suspensionCauses ? await driver.suspensionCauses([...suspended.keys()].sort()) : undefined;
  const suspendedBy: Record<string, number> = {};
  if (causes) for (const id of suspended.keys()) suspendedBy[causes.get(id) ?? 'unknown'] = (suspendedBy[causes.get(id) ?? 'unknown'] ?? 0) + 1;
  const o = rec.organic;
  const byKind: SimulationResult['organic']['byKind'] = {};
  for (const kind of ORGANIC_KINDS) {
    const t = o.byKind[kind];
    byKind[kind] = { accounts: 0, suspended: 0, syncs: t?.syncs ?? 0, syncsRefused: t?.syncsRefused ?? 0, syncRefusedShare: t && t.syncs > 0 ? round(t.syncsRefused / t.syncs, 6) : 0, refusedByReason: sortKeys(t?.refusedByReason ?? {}) };
  }
  for (const i of organicIndices) {
    const k = byKind[world.profile(i).kind]!;
    k.accounts++;
    if (suspended.has(accountId(i))) k.suspended++;
  }
  const surgeSpec = organicWithDefaults(world.spec.organic).surge;
  const sv = rec.surge;
  const surge = surgeSpec
    ? { country: surgeSpec.country, arrived: sv.arrived, firstSyncs: sv.firstSyncs, firstSyncsRefused: sv.firstSyncsRefused, firstSyncsNeverAnswered: sv.firstSyncs - sv.answered, largestFirstSync: sv.largestFirstSync, refusedByReason: sortKeys(sv.refusedByReason) }
    : undefined;
  const suspendedShare = rec.organicActive.size > 0 ? suspended.size / rec.organicActive.size : 0;
  const syncRefusedShare = o.syncs > 0 ? o.syncsRefused / o.syncs : 0;
  const harm = {
    suspendedPct: round(suspendedShare * 100, 4),
    syncsRefusedPct: round(syncRefusedShare * 100, 4),
    surgeFirstSyncsRefused: surge ? surge.firstSyncsRefused : null,
    withinTargets: suspendedShare <= 0.0001 && syncRefusedShare <= 0.001 && (surge?.firstSyncsRefused ?? 0) === 0,
  };
  let present = 0;
  for (let i = 0; i < world.existing; i++) if (world.presentAtStart(i)) present++;
  return {
    scenario: world.spec.name,
    policy: driver.policy,
    description: world.spec.description,
    seed: world.spec.seed,
    start: world.spec.start,
    days: world.spec.days,
    population: { atStart: present, joined: o.newAccounts, discoverable },
    attackers,
    organic: {
      newAccounts: o.newAccounts,
      activeAccounts: rec.organicActive.size,
      syncs: o.syncs,
      syncsRefused: o.syncsRefused,
      syncRefusedShare: o.syncs > 0 ? round(o.syncsRefused / o.syncs, 6) : 0,
      numbersSynced: o.numbersSynced,
      lookups: o.lookups,
      lookupsRefused: o.lookupsRefused,
      refusedByScope: sortKeys(o.refusedByScope),
      accountsSuspended: suspended.size,
      suspendedShare: round(suspendedShare, 6),
      ...(causes ? { suspendedBy: sortKeys(suspendedBy) } : {}),
      syncsRefusedByReason: sortKeys(o.syncsRefusedByReason),
      fullSyncs: o.fullSyncs,
      fullSyncsRefused: o.fullSyncsRefused,
      byKind,
      ...(surge ? { surge } : {}),
      harm,
      series: o.series,
    },
    events,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function sortKeys(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
}
