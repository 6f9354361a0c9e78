/**
 * Organic harm and attacker cost, beside the summary (issue 15): what each run cost real people
 * (accounts suspended, syncs refused and by what, the launch-day surge's first syncs refused,
 * against the targets) and what each attacker paid per 1,000 accounts exposed (aged local
 * accounts, proof-of-work CPU-hours). Plain text, markdown and HTML from the same cells.
 */
import { escapeHtml } from './html.js';
import type { SimulationResult } from './run.js';
import { formatCost, formatInt, formatPercent, groupByScenario } from './summary.js';

const DASH = '—';

interface Table {
  columns: readonly string[];
  numeric: readonly boolean[];
  rows: string[][];
}

/** "429 rate_limited/account (scattered-list) ×4; 403 account_suspended ×1": the largest first. */
export function reasonsText(reasons: Record<string, number>, max = 3): string {
  const sorted = Object.entries(reasons).sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  if (sorted.length === 0) return DASH;
  const shown = sorted.slice(0, max).map(([r, n]) => `${r} ×${formatInt(n)}`);
  return sorted.length > max ? `${shown.join('; ')}; …` : shown.join('; ');
}

/** Refused share of one kind of user's syncs, "0.00% of 120"; a dash where that kind did not sync. */
function kindRefused(r: SimulationResult, kind: string): string {
  const k = r.organic.byKind?.[kind];
  return k && k.syncs > 0 ? `${formatPercent(k.syncRefusedShare)} of ${formatInt(k.syncs)}` : DASH;
}

export function harmTableData(results: SimulationResult[]): Table {
  const rows = groupByScenario(results).map((r) => {
    const o = r.organic;
    const surge = o.surge ? `${formatInt(o.surge.firstSyncsRefused)} of ${formatInt(o.surge.firstSyncs)}` : DASH;
    const within = o.harm ? (o.harm.withinTargets ? 'yes' : 'no') : DASH;
    return [
      r.scenario,
      r.policy,
      formatInt(o.activeAccounts),
      formatPercent(o.suspendedShare),
      formatPercent(o.syncRefusedShare),
      kindRefused(r, 'migrant'),
      kindRefused(r, 'student'),
      surge,
      within,
      reasonsText(o.syncsRefusedByReason ?? o.refusedByScope),
      reasonsText(o.suspendedBy ?? {}),
    ];
  });
  return {
    columns: ['scenario', 'policy', 'organic accounts', 'suspended %', 'syncs refused %', 'migrants: syncs refused', 'students: syncs refused', 'launch-day first syncs refused', 'within targets', 'refused by', 'suspended by'],
    numeric: [false, false, true, true, true, true, true, true, false, false, false],
    rows,
  };
}

export function costTableData(results: SimulationResult[]): Table {
  const rows: string[][] = [];
  for (const r of groupByScenario(results)) {
    for (const a of r.attackers) {
      const c = a.cost;
      rows.push([
        r.scenario,
        r.policy,
        a.name,
        a.targets > 0 ? formatPercent(a.exposure) : DASH,
        formatInt(a.exposed),
        c.accountsPer1000Exposed === null ? DASH : formatCost(c.accountsPer1000Exposed),
        c.agedLocalAccountsPer1000Exposed === null || c.agedLocalAccountsPer1000Exposed === undefined ? DASH : formatCost(c.agedLocalAccountsPer1000Exposed),
        c.powCpuHoursPer1000Exposed === null || c.powCpuHoursPer1000Exposed === undefined ? DASH : hours(c.powCpuHoursPer1000Exposed),
        hours(c.powCpuHours ?? 0),
      ]);
    }
  }
  return {
    columns: ['scenario', 'policy', 'attacker', 'exposure %', 'exposed', 'accounts per 1,000 exposed', 'aged local accounts per 1,000 exposed', 'PoW CPU-hours per 1,000 exposed', 'PoW CPU-hours'],
    numeric: [false, false, false, true, true, true, true, true, true],
    rows,
  };
}

/** CPU-hours with enough digits to see a few seconds of hashing. */
export function hours(h: number): string {
  if (h === 0) return '0';
  if (h < 0.001) return '<0.001';
  return h < 10 ? h.toFixed(3) : formatInt(Math.round(h * 10) / 10);
}

function text(t: Table): string {
  const all = [[...t.columns], ...t.rows];
  const widths = t.columns.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (t.numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line([...t.columns]), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n') + '\n';
}

function markdown(t: Table): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const line = (cells: readonly string[]) => `| ${cells.map(esc).join(' | ')} |`;
  const rule = `|${t.columns.map((_, i) => (t.numeric[i] ? '---:' : ':---')).join('|')}|`;
  return [line(t.columns), rule, ...t.rows.map(line)].join('\n') + '\n';
}

function html(t: Table): string {
  const head = t.columns.map((c, i) => `<th${t.numeric[i] ? ' class="n"' : ''}>${escapeHtml(c)}</th>`).join('');
  const body = t.rows.map((r) => `<tr>${r.map((c, i) => `<td${t.numeric[i] ? ' class="n"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`);
  return `<div class="scroll"><table class="summary">\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body.join('\n')}\n</tbody>\n</table></div>`;
}

/** Both tables for a terminal: organic harm, then attacker cost (when there are attackers). */
export function harmAndCostText(results: SimulationResult[]): string {
  const cost = costTableData(results);
  return `Organic harm (targets: <= 0.01% suspended, <= 0.1% of syncs refused, 0 launch-day first syncs refused)\n${text(harmTableData(results))}${cost.rows.length > 0 ? `\nAttacker cost\n${text(cost)}` : ''}`;
}

export function harmMarkdown(results: SimulationResult[]): string {
  return markdown(harmTableData(results));
}

export function costMarkdown(results: SimulationResult[]): string {
  return markdown(costTableData(results));
}

/** The report's section: both tables and what their words mean. */
export function harmHtml(results: SimulationResult[]): string {
  const cost = costTableData(results);
  return `<section id="harm">
<h2>Organic harm</h2>
<p>Issue 15's targets: at most 0.01% of organic accounts suspended, at most 0.1% of organic syncs refused, and no launch-day first sync refused. Organic users include international ones (migrants, students, border regions, relatives abroad; shares from UN DESA 2024), several devices per person and full re-syncs after a reinstall.</p>
${html(harmTableData(results))}
${cost.rows.length > 0 ? `<h2>Attacker cost</h2>\n<p>Aged local accounts: fake accounts at least 7 days old at their first request (past the new-account tier), on residential addresses in their own phone country. Proof-of-work: hashes charged in simulated time at the fleet's hash rate.</p>\n${html(cost)}` : ''}
</section>`;
}
