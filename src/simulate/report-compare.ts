/**
 * The report's side-by-side view when several policies ran: one row per scenario (per attacker
 * where a scenario has several), one group of columns per policy. Only the three figures that
 * decide between policies (exposure, organic harm, containment); the rest is in the summary.
 */
import { escapeHtml } from './html.js';
import type { SimulationResult } from './run.js';
import { formatContained, formatPercent, NO_ATTACKER, summaryRows, type SummaryRow } from './summary.js';

/** Policies in the order they first appear (the order they were named in). */
export function policiesOf(results: readonly SimulationResult[]): string[] {
  return [...new Set(results.map((r) => r.policy))];
}

/** The comparison table, or '' when fewer than two policies ran (nothing to compare). */
export function comparisonHtml(results: SimulationResult[]): string {
  const policies = policiesOf(results);
  if (policies.length < 2) return '';
  // Rows keyed by scenario and attacker; a scenario missing under some policy shows dashes there.
  const byKey = new Map<string, { label: string; cells: Map<string, SummaryRow> }>();
  const attackersPer = new Map<string, number>();
  for (const r of results) attackersPer.set(r.scenario, Math.max(attackersPer.get(r.scenario) ?? 0, r.attackers.length));
  for (const row of summaryRows(results)) {
    const key = JSON.stringify([row.scenario, row.attacker]);
    let entry = byKey.get(key);
    if (!entry) {
      const several = (attackersPer.get(row.scenario) ?? 0) > 1;
      entry = { label: several ? `${row.scenario}: ${row.attacker ?? NO_ATTACKER}` : row.scenario, cells: new Map() };
      byKey.set(key, entry);
    }
    entry.cells.set(row.policy, row);
  }
  const dash = '<td class="n">—</td><td class="n">—</td><td>—</td>';
  const body = [...byKey.values()].map(({ label, cells }) => {
    const groups = policies.map((p) => {
      const row = cells.get(p);
      if (!row) return dash;
      const contained = row.contained === null ? '' : row.contained ? ' good' : ' bad';
      return `<td class="n">${escapeHtml(row.exposure === null ? '—' : formatPercent(row.exposure))}</td><td class="n">${escapeHtml(formatPercent(row.organicSyncsRefused))}</td><td class="nowrap${contained}">${escapeHtml(formatContained(row))}</td>`;
    });
    return `<tr><td>${escapeHtml(label)}</td>${groups.join('')}</tr>`;
  });
  const top = policies.map((p) => `<th colspan="3" class="group">${escapeHtml(p)}</th>`).join('');
  const sub = policies.map(() => '<th class="n">exposure %</th><th class="n">organic syncs refused %</th><th>contained</th>').join('');
  return `<section id="comparison">
<h2>Policies compared</h2>
<div class="scroll"><table class="compare">
<thead><tr><th rowspan="2">scenario</th>${top}</tr>
<tr>${sub}</tr></thead>
<tbody>
${body.join('\n')}
</tbody>
</table></div>
${sameSeeds(results) ? '<p class="note">Each scenario ran with the same seed under every policy, so the columns differ only by the policy.</p>\n' : ''}</section>`;
}

function sameSeeds(results: readonly SimulationResult[]): boolean {
  const seeds = new Map<string, number>();
  return results.every((r) => (seeds.get(r.scenario) ?? seeds.set(r.scenario, r.seed).get(r.scenario)) === r.seed);
}
