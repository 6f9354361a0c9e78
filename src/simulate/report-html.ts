/**
 * One self-contained HTML report of simulation results: no network at all. uPlot's JS and CSS
 * are read from node_modules and inlined, the data goes in a <script type="application/json">
 * block, and every number is also in a table so the page reads without JavaScript. Same input,
 * same string (no timestamps); only the sections marked wall-clock come from TimingReport.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { harmHtml } from './harm.js';
import { escapeHtml } from './html.js';
import { CLIENT_JS, PAGE_CSS } from './report-assets.js';
import { comparisonHtml } from './report-compare.js';
import { oracleHtml, probesOf } from './report-oracle.js';
import type { AttackerResult, SimulationResult, TimingReport } from './run.js';
import {
  formatContained,
  formatCost,
  formatInt,
  formatPercent,
  groupByScenario,
  summaryCells,
  summaryRows,
  SUMMARY_COLUMNS,
  SUMMARY_NUMERIC,
} from './summary.js';

export interface ReportOptions {
  title?: string;
}

/** Chart-ready series for one scenario (also embedded in the JSON block as `charts`). */
export interface ScenarioCharts {
  /** Exposure per attacker, carried forward between the hours it was active; x = hours since start. */
  exposure: { names: string[]; x: number[]; ys: number[][] } | null;
  /** Organic syncs and refused syncs per hour, every hour of the run (hours without syncs are 0). */
  organic: { x: number[]; syncs: number[]; refused: number[] } | null;
}

/** The JSON block's content. */
export interface ReportData {
  title: string;
  results: SimulationResult[];
  timings: TimingReport[];
  charts: ScenarioCharts[];
}

const DEFAULT_TITLE = 'findguard attack simulation report';

export { escapeHtml };

/** JSON that is safe inside <script>: no "<" at all, so no "</script" and no "<!--". */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

let assets: { js: string; css: string } | undefined;

function chartAssets(): { js: string; css: string } {
  if (!assets) {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    assets = { js: js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--'), css: css.replace(/<\/(style)/gi, '<\\/$1') };
  }
  return assets;
}

export function chartData(r: SimulationResult): ScenarioCharts {
  const runHours = Math.max(1, Math.round(r.days * 24));
  const withSeries = r.attackers.filter((a) => a.series.length > 0);
  let exposure: ScenarioCharts['exposure'] = null;
  if (withSeries.length > 0) {
    const hours = new Set<number>([0]);
    for (const a of withSeries) for (const s of a.series) hours.add(s.hour);
    const last = Math.max(...hours);
    hours.add(Math.max(runHours, last));
    const x = [...hours].sort((a, b) => a - b);
    const ys = withSeries.map((a) => {
      let k = 0;
      let value = 0;
      return x.map((h) => {
        while (k < a.series.length && a.series[k]!.hour <= h) value = a.series[k++]!.exposure;
        return value;
      });
    });
    exposure = { names: withSeries.map((a) => a.name), x, ys };
  }
  let organic: ScenarioCharts['organic'] = null;
  if (r.organic.series.length > 0) {
    const n = Math.max(runHours, ...r.organic.series.map((s) => s.hour + 1));
    const x = Array.from({ length: n }, (_, i) => i);
    const syncs = new Array<number>(n).fill(0);
    const refused = new Array<number>(n).fill(0);
    for (const s of r.organic.series) {
      syncs[s.hour] = (syncs[s.hour] ?? 0) + s.syncs;
      refused[s.hour] = (refused[s.hour] ?? 0) + s.refused;
    }
    organic = { x, syncs, refused };
  }
  return { exposure, organic };
}

export function renderReport(input: SimulationResult[], timings: TimingReport[], options: ReportOptions = {}): string {
  const title = options.title ?? DEFAULT_TITLE;
  // The runs of one scenario under several policies sit next to each other everywhere.
  const results = groupByScenario(input);
  const charts = results.map(chartData);
  const data: ReportData = { title, results, timings, charts };
  const { js, css } = chartAssets();
  const sections = results.map((r, i) => scenarioSection(r, i, charts[i]!, timingFor(results, timings, i)));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(title)}</h1>
${overview(results)}
<noscript><p class="note">Charts need JavaScript; every number is also in the tables.</p></noscript>
</header>
${comparisonHtml(results)}
<section id="summary">
<h2>Summary</h2>
${summaryHtml(results)}
${VOCABULARY}
</section>
${harmHtml(results)}
${sections.join('\n')}
</main>
<script type="application/json" id="findguard-data">${jsonForScript(data)}</script>
<script>${js}</script>
<script>${CLIENT_JS}</script>
</body>
</html>
`;
}

function timingFor(results: SimulationResult[], timings: TimingReport[], i: number): TimingReport | undefined {
  const { scenario, policy } = results[i]!;
  const same = (t: TimingReport | undefined) => t?.scenario === scenario && t.policy === policy;
  if (timings.length === results.length && same(timings[i])) return timings[i];
  return timings.find(same);
}

function overview(results: SimulationResult[]): string {
  if (results.length === 0) return '<p>No scenarios were run.</p>';
  const rows = results.map(
    (r, i) => `<tr><td><a href="#scenario-${i + 1}">${escapeHtml(r.scenario)}</a></td><td>${escapeHtml(r.policy)}</td><td class="n">${escapeHtml(String(r.seed))}</td><td>${escapeHtml(r.start)}</td>${num(r.days)}${num(r.population.atStart)}${num(r.population.joined)}${num(r.population.discoverable)}${num(r.attackers.length)}${num(r.events)}</tr>`,
  );
  const policies = new Set(results.map((r) => r.policy)).size;
  const runs = results.length === 1 ? 'One scenario' : policies > 1 ? `${results.length} runs (scenarios × ${policies} policies)` : `${results.length} scenarios`;
  return `<p>${runs} replayed on a simulated clock. Everything here is reproducible from the seed, except the sections marked <em>wall-clock</em>.</p>
<table>
<thead><tr><th>scenario</th><th>policy</th><th class="n">seed</th><th>simulated start</th><th class="n">days</th><th class="n">accounts at start</th><th class="n">joined</th><th class="n">discoverable</th><th class="n">attackers</th><th class="n">events</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

function num(n: number): string {
  return `<td class="n">${escapeHtml(formatInt(n))}</td>`;
}

function summaryHtml(results: SimulationResult[]): string {
  const containedColumn = SUMMARY_COLUMNS.indexOf('contained');
  const head = SUMMARY_COLUMNS.map((c, i) => `<th${SUMMARY_NUMERIC[i] ? ' class="n"' : ''}>${escapeHtml(c)}</th>`).join('');
  const body = summaryRows(results).map((row) => {
    const cells = summaryCells(row).map((c, i) => {
      const cls = [SUMMARY_NUMERIC[i] ? 'n' : '', i === containedColumn && row.contained !== null ? (row.contained ? 'good' : 'bad') : ''].filter(Boolean).join(' ');
      return `<td${cls ? ` class="${cls}"` : ''}>${escapeHtml(c)}</td>`;
    });
    return `<tr>${cells.join('')}</tr>`;
  });
  return `<div class="scroll"><table class="summary">
<thead><tr>${head}</tr></thead>
<tbody>
${body.join('\n')}
</tbody>
</table></div>`;
}

const VOCABULARY = `<dl class="vocab">
<dt>exposure</dt><dd>distinct discoverable accounts revealed to the attacker's accounts ÷ discoverable accounts in its target set.</dd>
<dt>containment</dt><dd>for each attacker account that got answers or was suspended, simulated minutes from its own first request until findguard suspended it or first refused it as suspended (403), whichever came first; the figure is the slowest account's. Contained means every such account was suspended after its last answer.</dd>
<dt>organic harm</dt><dd>share of organic syncs refused and of active organic accounts suspended.</dd>
<dt>attacker cost</dt><dd>fake accounts (and IPs) spent per 1,000 exposed accounts; “—” when nothing was exposed.</dd>
</dl>`;

function scenarioSection(r: SimulationResult, i: number, charts: ScenarioCharts, timing: TimingReport | undefined): string {
  const parts: string[] = [];
  parts.push(`<section class="scenario" id="scenario-${i + 1}">
<h2>${escapeHtml(r.scenario)} <span class="policy">policy ${escapeHtml(r.policy)}</span></h2>
<p class="desc">${escapeHtml(r.description)}</p>
<p class="meta">seed ${escapeHtml(String(r.seed))} · start ${escapeHtml(r.start)} · ${escapeHtml(formatInt(r.days))} days · ${escapeHtml(formatInt(r.population.atStart))} accounts at start, ${escapeHtml(formatInt(r.population.joined))} joined, ${escapeHtml(formatInt(r.population.discoverable))} discoverable · ${escapeHtml(formatInt(r.events))} events${
    timing ? ` · <span class="wall">wall-clock: ${escapeHtml(timing.wallSeconds.toFixed(1))} s, ${escapeHtml(formatInt(timing.eventsPerSecond))} events/s (not reproducible)</span>` : ''
  }</p>`);
  parts.push(attackersHtml(r.attackers));

  parts.push('<h3>Exposure over time</h3>');
  if (charts.exposure) {
    parts.push(`<div class="chart" id="exposure-${i}" role="img" aria-label="exposure over time per attacker"></div>`);
    const head = `<tr><th class="n">hour</th>${charts.exposure.names.map((n) => `<th class="n">${escapeHtml(n)}</th>`).join('')}</tr>`;
    const rows = charts.exposure.x.map((h, k) => `<tr>${num(h)}${charts.exposure!.ys.map((y) => `<td class="n">${escapeHtml(formatPercent(y[k]!))}</td>`).join('')}</tr>`);
    parts.push(details('Hourly exposure (table)', `<table><thead>${head}</thead><tbody>\n${rows.join('\n')}\n</tbody></table>`));
  } else {
    parts.push(`<p class="none">${r.attackers.length === 0 ? 'No attackers in this scenario.' : 'No attacker has an exposure series (no target set).'}</p>`);
  }

  parts.push('<h3>Organic syncs and refusals</h3>');
  parts.push(
    `<p>${escapeHtml(formatInt(r.organic.syncs))} organic syncs, ${escapeHtml(formatInt(r.organic.syncsRefused))} refused (${escapeHtml(formatPercent(r.organic.syncRefusedShare))}); ${escapeHtml(formatInt(r.organic.lookups))} lookups, ${escapeHtml(formatInt(r.organic.lookupsRefused))} refused; ${escapeHtml(formatInt(r.organic.accountsSuspended))} of ${escapeHtml(formatInt(r.organic.activeAccounts))} active organic accounts suspended (${escapeHtml(formatPercent(r.organic.suspendedShare))}); ${escapeHtml(formatInt(r.organic.newAccounts))} new accounts.</p>`,
  );
  if (charts.organic) {
    parts.push(`<div class="chart" id="organic-${i}" role="img" aria-label="organic syncs and refusals per hour"></div>`);
    const rows = r.organic.series.map((s) => `<tr>${num(s.hour)}${num(s.syncs)}${num(s.refused)}</tr>`);
    parts.push(details('Hourly organic syncs (table, hours with syncs)', `<table><thead><tr><th class="n">hour</th><th class="n">syncs</th><th class="n">refused</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`));
  } else {
    parts.push('<p class="none">No organic syncs recorded.</p>');
  }

  parts.push('<h3>Refusals by scope</h3>');
  parts.push(scopesHtml(r));

  for (const a of r.attackers) {
    const probes = probesOf(a);
    if (a.kind === 'oracle-probe' || probes) parts.push(oracleHtml(a, probes, timing));
  }
  parts.push('</section>');
  return parts.join('\n');
}

function details(summary: string, body: string): string {
  return `<details><summary>${escapeHtml(summary)}</summary>\n<div class="scroll">${body}</div>\n</details>`;
}

function attackersHtml(attackers: AttackerResult[]): string {
  if (attackers.length === 0) return '<p class="none">Organic traffic only: no attackers.</p>';
  const rows = attackers.map((a) => {
    const status = Object.entries(a.refusedByStatus).map(([k, v]) => `${k}: ${formatInt(v)}`).join(', ') || '—';
    const extra = Object.entries(a.details)
      .filter(([k]) => k !== 'probes')
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ') || '—';
    return `<tr><td>${escapeHtml(a.name)}</td><td>${escapeHtml(a.kind)}</td>${num(a.accounts)}${num(a.ips)}<td>${escapeHtml(a.countries.join(', ') || '—')}</td>${num(a.requests)}${num(a.numbersQueried)}${num(a.answered)}<td>${escapeHtml(status)}</td><td class="n">${escapeHtml(
      a.targets > 0 ? formatPercent(a.exposure) : '—',
    )}</td><td class="nowrap ${a.containment.contained ? 'good' : 'bad'}">${escapeHtml(formatContained({ contained: a.containment.contained, containedMinutes: a.containment.minutes }))}</td>${num(a.containment.numbersQueried)}<td class="n">${escapeHtml(
      a.cost.ipsPer1000Exposed === null ? '—' : formatCost(a.cost.ipsPer1000Exposed),
    )}</td><td>${escapeHtml(extra)}</td></tr>`;
  });
  return `<div class="scroll"><table class="attackers">
<thead><tr><th>attacker</th><th>kind</th><th class="n">fake accounts</th><th class="n">IPs</th><th>countries</th><th class="n">requests</th><th class="n">numbers queried</th><th class="n">answered</th><th>refused (by status)</th><th class="n">exposure</th><th>contained</th><th class="n">queried until contained</th><th class="n">IPs per 1,000 exposed</th><th>details</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table></div>`;
}

function scopesHtml(r: SimulationResult): string {
  const sources: Array<{ label: string; counts: Record<string, number> }> = [
    ...r.attackers.map((a) => ({ label: a.name, counts: a.refusedByScope })),
    { label: 'organic', counts: r.organic.refusedByScope },
  ];
  const scopes = [...new Set(sources.flatMap((s) => Object.keys(s.counts)))].sort((a, b) => a.localeCompare(b));
  if (scopes.length === 0) return '<p class="none">No refusals by scope: no request was refused by a rate-limit scope.</p>';
  const totals = sources.map((s) => Object.values(s.counts).reduce((x, y) => x + y, 0));
  const rows = scopes.map((scope) => {
    const cells = sources.map((s, k) => {
      const n = s.counts[scope] ?? 0;
      if (n === 0) return '<td class="n">0</td>';
      const share = n / totals[k]!;
      return `<td class="n"><span class="track"><span class="bar" style="width:${(share * 100).toFixed(1)}%"></span></span>${escapeHtml(formatInt(n))} (${escapeHtml(formatPercent(share))})</td>`;
    });
    return `<tr><td>${escapeHtml(scope)}</td>${cells.join('')}</tr>`;
  });
  return `<div class="scroll"><table class="scopes">
<thead><tr><th>scope</th>${sources.map((s) => `<th class="n">${escapeHtml(s.label)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table></div>
<p class="note">Count of refused requests per scope, and its share of that source's scoped refusals.</p>`;
}
