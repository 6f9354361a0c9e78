/**
 * One-line-per-attacker summary of simulation results (shared/DESIGN.md §8): exposure,
 * containment, attacker cost and organic harm. Plain text for the terminal, markdown for the
 * README, and the same cells for the HTML report. Deterministic: no timestamps, no locale.
 * Rows are grouped by scenario so the runs of one scenario under several policies sit together.
 */
import type { SimulationResult } from './run.js';

export interface SummaryRow {
  scenario: string;
  policy: string;
  /** null on the one row of a scenario that has no attackers (organic traffic only). */
  attacker: string | null;
  kind: string | null;
  fakeAccounts: number | null;
  ips: number | null;
  targets: number | null;
  exposed: number | null;
  /** Share 0..1 of the attacker's discoverable targets revealed; null when it had no target set. */
  exposure: number | null;
  contained: boolean | null;
  /** Simulated minutes from an attacker account's first request until it was suspended: the slowest account. */
  containedMinutes: number | null;
  accountsPer1000Exposed: number | null;
  /** Share 0..1 of organic syncs refused (same on every row of a scenario). */
  organicSyncsRefused: number;
  /** Share 0..1 of active organic accounts suspended (same on every row of a scenario). */
  organicSuspended: number;
  /** "My contacts" users revealed to a caller outside their book (issue 15: must be 0); null in results that predate it. */
  contactsExposedOutsideBook: number | null;
}

export const SUMMARY_COLUMNS = [
  'scenario',
  'policy',
  'attacker',
  'fake accounts',
  'IPs',
  'targets',
  'exposed',
  'exposure %',
  'contained',
  'accounts per 1,000 exposed',
  'organic syncs refused %',
  'organic accounts suspended %',
  'my-contacts users exposed outside their books',
] as const;

/** Which columns hold numbers (right-aligned). */
export const SUMMARY_NUMERIC: readonly boolean[] = [false, false, false, true, true, true, true, true, false, true, true, true, true];

export const NO_ATTACKER = '(organic only)';
const DASH = '—';

/**
 * Results grouped by scenario, scenarios in order of first appearance, runs of one scenario in
 * the order given (the order policies were named in).
 */
export function groupByScenario(results: readonly SimulationResult[]): SimulationResult[] {
  const groups = new Map<string, SimulationResult[]>();
  for (const r of results) {
    const group = groups.get(r.scenario);
    if (group) group.push(r);
    else groups.set(r.scenario, [r]);
  }
  return [...groups.values()].flat();
}

export function summaryRows(results: SimulationResult[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const r of groupByScenario(results)) {
    const organic = {
      organicSyncsRefused: r.organic.syncRefusedShare,
      organicSuspended: r.organic.suspendedShare,
      contactsExposedOutsideBook: r.contactsMode?.exposedOutsideBook ?? null,
    };
    if (r.attackers.length === 0) {
      rows.push({
        scenario: r.scenario,
        policy: r.policy,
        attacker: null,
        kind: null,
        fakeAccounts: null,
        ips: null,
        targets: null,
        exposed: null,
        exposure: null,
        contained: null,
        containedMinutes: null,
        accountsPer1000Exposed: null,
        ...organic,
      });
      continue;
    }
    for (const a of r.attackers) {
      rows.push({
        scenario: r.scenario,
        policy: r.policy,
        attacker: a.name,
        kind: a.kind,
        fakeAccounts: a.accounts,
        ips: a.ips,
        targets: a.targets,
        exposed: a.exposed,
        exposure: a.targets > 0 ? a.exposure : null,
        contained: a.containment.contained,
        containedMinutes: a.containment.minutes,
        accountsPer1000Exposed: a.cost.accountsPer1000Exposed,
        ...organic,
      });
    }
  }
  return rows;
}

/** 1234567 → "1,234,567"; no locale data involved. */
export function formatInt(n: number): string {
  const sign = n < 0 ? '-' : '';
  const [whole, frac] = Math.abs(n).toString().split('.');
  return sign + whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac !== undefined ? `.${frac}` : '');
}

/** Share 0..1 → "12.35%"; a non-zero share too small to show is "<0.01%", not "0.00%". */
export function formatPercent(share: number): string {
  const pct = share * 100;
  if (pct > 0 && pct < 0.005) return '<0.01%';
  return `${pct.toFixed(2)}%`;
}

export function formatContained(row: Pick<SummaryRow, 'contained' | 'containedMinutes'>): string {
  if (row.contained === null) return DASH;
  if (!row.contained) return 'no';
  return row.containedMinutes === null ? 'yes' : `yes (${formatMinutes(row.containedMinutes)} min)`;
}

/** Attacker cost per 1,000 exposed, one decimal: "768.7", "4,098.4". */
export function formatCost(n: number): string {
  return formatInt(Number(n.toFixed(1))).replace(/^(-?[\d,]+)$/, '$1.0');
}

function formatMinutes(m: number): string {
  return formatInt(Math.round(m * 10) / 10);
}

const orDash = <T>(v: T | null, f: (v: T) => string): string => (v === null ? DASH : f(v));

/** The cells of a row, in SUMMARY_COLUMNS order. */
export function summaryCells(row: SummaryRow): string[] {
  return [
    row.scenario,
    row.policy,
    row.attacker === null ? NO_ATTACKER : row.kind && row.kind !== row.attacker ? `${row.attacker} (${row.kind})` : row.attacker,
    orDash(row.fakeAccounts, formatInt),
    orDash(row.ips, formatInt),
    orDash(row.targets, formatInt),
    orDash(row.exposed, formatInt),
    orDash(row.exposure, formatPercent),
    formatContained(row),
    orDash(row.accountsPer1000Exposed, formatCost),
    formatPercent(row.organicSyncsRefused),
    formatPercent(row.organicSuspended),
    orDash(row.contactsExposedOutsideBook, formatInt),
  ];
}

/** Fixed-width plain-text table for a terminal. */
export function summaryTable(results: SimulationResult[]): string {
  const body = summaryRows(results).map(summaryCells);
  const all = [[...SUMMARY_COLUMNS], ...body];
  const widths = SUMMARY_COLUMNS.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (SUMMARY_NUMERIC[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line([...SUMMARY_COLUMNS]), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n') + '\n';
}

/** GitHub-flavoured markdown table (numbers right-aligned), for the README. */
export function summaryMarkdown(results: SimulationResult[]): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const body = summaryRows(results).map((r) => summaryCells(r).map(esc));
  const head = SUMMARY_COLUMNS.map(esc);
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(3, ...all.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (SUMMARY_NUMERIC[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (SUMMARY_NUMERIC[i] ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n') + '\n';
}
