import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { type Actor, type SimContext } from './engine.js';
import { buildFleet, hashName, scheduleSignUp, type FleetAccount } from './fleet.js';
import type { AttackerTally } from './metrics.js';
import type { AttackerSpec } from './scenario.js';
import { rngFor } from './world.js';

type OracleSpec = Extract<AttackerSpec, { kind: 'oracle-probe' }>;
export type NumberClass = 'unregistered' | 'undiscoverable' | 'two_factor_only' | 'suspended' | 'discoverable';
// 'discoverable' is the control: it must be told apart (it matches), proving the probe can see.
const CLASSES: NumberClass[] = ['unregistered', 'undiscoverable', 'two_factor_only', 'suspended', 'discoverable'];

interface Probe {
  name: string;
  method: 'POST' | 'GET';
  path: (e164: string) => string;
  body?: (e164: string, national: { number: string; region: string }) => unknown;
}

/** Every way a client can ask about a number without it being discoverable. */
const PROBES: Probe[] = [
  { name: 'lookup e164', method: 'POST', path: () => '/v1/discovery/lookup', body: (n) => ({ phone: n }) },
  { name: 'lookup national', method: 'POST', path: () => '/v1/discovery/lookup', body: (_n, national) => ({ phone: national.number, region: national.region }) },
  { name: 'lookup spaced', method: 'POST', path: () => '/v1/discovery/lookup', body: (n) => ({ phone: `${n.slice(0, 3)} ${n.slice(3, 7)} ${n.slice(7)}` }) },
  { name: 'sync one', method: 'POST', path: () => '/v1/discovery/sync', body: (n) => ({ contacts: [n] }) },
  { name: 'sync with invalid', method: 'POST', path: () => '/v1/discovery/sync', body: (n) => ({ contacts: ['12', n] }) },
  { name: 'sync duplicate', method: 'POST', path: () => '/v1/discovery/sync', body: (n) => ({ contacts: [n, n] }) },
  { name: 'lookup with bad region', method: 'POST', path: () => '/v1/discovery/lookup', body: (n) => ({ phone: n, region: 'ZZ' }) },
  { name: 'internal account path', method: 'GET', path: (n) => `/internal/v1/accounts/${encodeURIComponent(n)}` },
  { name: 'import without key', method: 'POST', path: () => '/internal/v1/import', body: (n) => ({ accountId: 'x', handle: 'x', contactPoints: [{ kind: 'phone', value: n, purposes: ['discovery'], verified: true }] }) },
];

/**
 * Tries every endpoint and parameter variation on numbers whose class it knows (unregistered,
 * registered but undiscoverable, 2FA-only, on a suspended account) and checks whether anything
 * observable (status, body, headers, size) tells a class apart from unregistered. Timing is
 * measured too, in wall time, and reported apart (timing is not reproducible byte for byte).
 */
export class OracleProbe implements Actor {
  constructor(private readonly spec: OracleSpec) {}

  readonly timings = new Map<string, Record<NumberClass, number[]>>();

  plan(ctx: SimContext): void {
    const tally = ctx.recorder.attacker(this.spec.name, 'oracle-probe');
    const [prober] = buildFleet(ctx, { ...this.spec, accounts: 1 }, tally);
    scheduleSignUp(ctx, this.spec, prober!, () => this.probe(ctx, tally, prober!));
  }

  private samples(ctx: SimContext): Record<NumberClass, string[]> {
    const { world } = ctx;
    const rng = rngFor(world.spec.seed, hashName(this.spec.name));
    const out: Record<NumberClass, string[]> = { unregistered: [], undiscoverable: [], two_factor_only: [], suspended: [], discoverable: [] };
    const want = this.spec.samplesPerClass;
    const blocks = world.population.blocks();
    for (let tries = 0; tries < want * 50 && out.unregistered.length < want; tries++) {
      const n = blocks[rng.int(blocks.length)]! + String(rng.int(10_000)).padStart(4, '0');
      if (world.population.ownerOf(n) === undefined) out.unregistered.push(n);
    }
    for (let i = 0; i < world.existing; i++) {
      const a = world.population.account(i);
      const phone = a.contactPoints[0]!;
      const p = phone.purposes;
      let cls: NumberClass | undefined;
      if (a.status === 'suspended') cls = 'suspended';
      else if (p.length > 0 && !p.includes('discovery') && phone.verified) cls = 'two_factor_only';
      // A "my contacts" number is undiscoverable to this prober, whose phone is in nobody's book.
      else if (!(p.includes('discovery') && phone.verified) || world.contactsMode(i)) cls = 'undiscoverable';
      else cls = 'discoverable';
      if (cls && out[cls].length < want) out[cls].push(phone.value);
      if (CLASSES.every((c) => out[c].length >= want)) break;
    }
    return out;
  }

  private async probe(ctx: SimContext, tally: AttackerTally, prober: FleetAccount): Promise<void> {
    const samples = this.samples(ctx);
    const transport = ctx.driver.transport(prober.conn);
    const token = await ctx.driver.token(prober.id);
    const findings: Array<{ probe: string; distinguishes: Record<string, boolean> }> = [];
    let requests = 0;
    for (const probe of PROBES) {
      const seen: Record<NumberClass, Set<string>> = { unregistered: new Set(), undiscoverable: new Set(), two_factor_only: new Set(), suspended: new Set(), discoverable: new Set() };
      const times: Record<NumberClass, number[]> = { unregistered: [], undiscoverable: [], two_factor_only: [], suspended: [], discoverable: [] };
      // Interleave classes so drift in the machine's speed does not look like a signal.
      for (let k = 0; k < this.spec.samplesPerClass; k++) {
        for (const cls of CLASSES) {
          const n = samples[cls][k];
          if (!n) continue;
          const parsed = parsePhoneNumberFromString(n);
          const national = { number: parsed?.formatNational() ?? n, region: parsed?.country ?? 'US' };
          const t0 = process.hrtime.bigint();
          const res = await transport.send({
            method: probe.method,
            path: probe.path(n),
            headers: { authorization: `Bearer ${token}`, ...(probe.body ? { 'content-type': 'application/json' } : {}) },
            ...(probe.body ? { body: probe.body(n, national) } : {}),
          });
          times[cls].push(Number(process.hrtime.bigint() - t0) / 1000);
          requests++;
          seen[cls].add(signature(res));
        }
      }
      const distinguishes: Record<string, boolean> = {};
      for (const cls of CLASSES.slice(1)) distinguishes[cls] = [...seen[cls]].some((s) => !seen.unregistered.has(s)) || [...seen.unregistered].some((s) => !seen[cls].has(s));
      findings.push({ probe: probe.name, distinguishes });
      this.timings.set(probe.name, times);
    }
    tally.requests += requests;
    tally.numbersQueried += requests;
    tally.extra.probes = findings;
    // What the attacker learns: any probe telling a non-discoverable class from unregistered.
    tally.extra.learnedAnything = findings.some((f) => Object.entries(f.distinguishes).some(([cls, d]) => cls !== 'discoverable' && d));
  }
}

/** What an observer can see of a response, minus what changes every time (date, tokens). */
function signature(res: { status: number; headers: Record<string, string | string[] | undefined>; body: string }): string {
  const headers = Object.keys(res.headers)
    .filter((h) => h !== 'date' && h !== 'content-length')
    .sort()
    .map((h) => `${h}=${String(res.headers[h])}`);
  const body = res.body.replace(/"token":"[^"]*"/g, '"token":"…"');
  return `${res.status}|${body.length}|${body}|${headers.join(';')}`;
}

/** Mann-Whitney AUC of b against a: 0.5 means timing tells nothing. */
export function auc(a: number[], b: number[]): number {
  if (a.length === 0 || b.length === 0) return 0.5;
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  let rankSum = 0;
  all.forEach((x, i) => {
    if (x.g === 1) rankSum += i + 1;
  });
  return (rankSum - (b.length * (b.length + 1)) / 2) / (a.length * b.length);
}
