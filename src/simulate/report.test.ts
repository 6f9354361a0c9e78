import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { chartData, escapeHtml, jsonForScript, renderReport } from './report-html.js';
import type { AttackerResult, SimulationResult, TimingReport } from './run.js';
import { costMarkdown, harmAndCostText, harmMarkdown } from './harm.js';
import { formatCost, formatPercent, summaryMarkdown, summaryRows, summaryTable } from './summary.js';

function attacker(over: Partial<AttackerResult>): AttackerResult {
  return {
    name: 'scanner',
    kind: 'range-scan',
    accounts: 1200,
    ips: 300,
    countries: ['IR', 'MY'],
    targets: 10_000,
    exposed: 250,
    exposure: 0.025,
    requests: 5000,
    numbersQueried: 600_000,
    answered: 4000,
    refusedByStatus: { '403': 100, '429': 900 },
    refusedByScope: { 'account-daily': 600, 'ip-hourly': 300 },
    containment: { contained: true, minutes: 42.5, numbersQueried: 600_000 },
    cost: { accountsPer1000Exposed: 4800, ipsPer1000Exposed: 1200, agedLocalAccounts: 0, agedLocalAccountsPer1000Exposed: 0, powHashes: 0, powCpuHours: 0, powCpuHoursPer1000Exposed: 0 },
    series: [
      { hour: 0, exposure: 0.01, requests: 2000, refused: 100 },
      { hour: 1, exposure: 0.02, requests: 2000, refused: 400 },
      { hour: 3, exposure: 0.025, requests: 1000, refused: 500 },
    ],
    details: { listSize: 10_000 },
    ...over,
  };
}

function organic(over: Partial<SimulationResult['organic']> = {}): SimulationResult['organic'] {
  return {
    newAccounts: 12,
    activeAccounts: 2000,
    syncs: 4000,
    syncsRefused: 2,
    syncRefusedShare: 0.0005,
    numbersSynced: 80_000,
    lookups: 300,
    lookupsRefused: 0,
    refusedByScope: { 'account-daily': 2 },
    accountsSuspended: 1,
    suspendedShare: 0.0005,
    syncsRefusedByReason: { '429 rate_limited/account-daily': 2 },
    fullSyncs: 40,
    fullSyncsRefused: 0,
    byKind: { domestic: { accounts: 1900, suspended: 1, syncs: 3800, syncsRefused: 2, syncRefusedShare: 0.000526, refusedByReason: { '429 rate_limited/account-daily': 2 } } },
    harm: { suspendedPct: 0.05, syncsRefusedPct: 0.05, surgeFirstSyncsRefused: null, withinTargets: false },
    series: [
      { hour: 0, syncs: 1500, refused: 0 },
      { hour: 2, syncs: 2500, refused: 2 },
    ],
    ...over,
  };
}

const scan: SimulationResult = {
  scenario: 'twitter-2019',
  policy: 'default',
  description: 'Range scan from <b>hosting</b> & "friends"',
  seed: 1,
  start: '2019-12-20T00:00:00Z',
  days: 0.25,
  population: { atStart: 50_000, joined: 12, discoverable: 40_000 },
  attackers: [attacker({}), attacker({ name: 'farm', kind: 'account-farm', accounts: 50, ips: 50, exposed: 0, exposure: 0, containment: { contained: false, minutes: null, numbersQueried: 10 }, cost: { accountsPer1000Exposed: null, ipsPer1000Exposed: null, agedLocalAccounts: 0, agedLocalAccountsPer1000Exposed: null, powHashes: 0, powCpuHours: 0, powCpuHoursPer1000Exposed: null }, series: [{ hour: 2, exposure: 0, requests: 10, refused: 10 }], refusedByScope: {} })],
  organic: organic(),
  events: 123_456,
};

const quiet: SimulationResult = {
  scenario: 'organic-only',
  policy: 'default',
  description: 'Nobody attacks; how much do honest users suffer?',
  seed: 7,
  start: '2024-01-01T00:00:00Z',
  days: 1,
  population: { atStart: 10_000, joined: 3, discoverable: 8000 },
  attackers: [],
  organic: organic({ refusedByScope: {}, syncsRefused: 0, syncRefusedShare: 0, accountsSuspended: 0, suspendedShare: 0, series: [{ hour: 5, syncs: 10, refused: 0 }] }),
  events: 999,
};

const oracle: SimulationResult = {
  scenario: 'oracle-probe',
  policy: 'default',
  description: 'Probe every endpoint for a side channel.',
  seed: 3,
  start: '2024-01-01T00:00:00Z',
  days: 1,
  population: { atStart: 1000, joined: 0, discoverable: 700 },
  attackers: [
    attacker({
      name: 'oracle-probe',
      kind: 'oracle-probe',
      accounts: 1,
      ips: 1,
      targets: 0,
      exposed: 0,
      exposure: 0,
      refusedByScope: {},
      refusedByStatus: {},
      containment: { contained: false, minutes: null, numbersQueried: 90 },
      cost: { accountsPer1000Exposed: null, ipsPer1000Exposed: null, agedLocalAccounts: 0, agedLocalAccountsPer1000Exposed: null, powHashes: 0, powCpuHours: 0, powCpuHoursPer1000Exposed: null },
      series: [],
      details: {
        probes: [
          { probe: 'lookup e164', distinguishes: { undiscoverable: false, two_factor_only: false, suspended: false, discoverable: true } },
          { probe: 'sync <one>', distinguishes: { undiscoverable: false, two_factor_only: true, suspended: false, discoverable: true } },
        ],
        learnedAnything: true,
      },
    }),
  ],
  organic: organic({ refusedByScope: {}, series: [] }),
  events: 90,
};

const results = [scan, quiet, oracle];
const timings: TimingReport[] = [
  { scenario: 'twitter-2019', policy: 'default', wallSeconds: 3.2, eventsPerSecond: 38_580 },
  { scenario: 'organic-only', policy: 'default', wallSeconds: 0.1, eventsPerSecond: 9990 },
  {
    scenario: 'oracle-probe',
    policy: 'default',
    wallSeconds: 0.5,
    eventsPerSecond: 180,
    oracle: [
      { probe: 'lookup e164', auc: { undiscoverable: 0.512, two_factor_only: 0.493, suspended: 0.5 } },
      { probe: 'sync <one>', auc: { undiscoverable: 0.777, two_factor_only: 0.5, suspended: 0.45 } },
    ],
  },
];

function dataBlock(html: string): unknown {
  const m = /<script type="application\/json" id="findguard-data">([\s\S]*?)<\/script>/.exec(html);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!);
}

describe('summary', () => {
  it('has one row per attacker and one for an organic-only scenario', () => {
    const rows = summaryRows(results);
    expect(rows.map((r) => [r.scenario, r.attacker])).toEqual([
      ['twitter-2019', 'scanner'],
      ['twitter-2019', 'farm'],
      ['organic-only', null],
      ['oracle-probe', 'oracle-probe'],
    ]);
    expect(rows[0]).toMatchObject({ fakeAccounts: 1200, ips: 300, targets: 10_000, exposed: 250, exposure: 0.025, contained: true, containedMinutes: 42.5, accountsPer1000Exposed: 4800 });
    expect(rows[3]!.exposure).toBeNull();
  });

  it('formats the plain-text table', () => {
    const lines = summaryTable(results).trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^scenario\s+policy\s+attacker\s+fake accounts\s+IPs\s+targets\s+exposed\s+exposure %\s+contained\s+accounts per 1,000 exposed\s+organic syncs refused %\s+organic accounts suspended %\s+my-contacts users exposed outside their books$/);
    expect(lines[1]).toMatch(/^-+( +-+)+$/);
    expect(lines[2]!.split(/\s{2,}/)).toEqual(['twitter-2019', 'default', 'scanner (range-scan)', '1,200', '300', '10,000', '250', '2.50%', 'yes (42.5 min)', '4,800.0', '0.05%', '0.05%', '—']);
    expect(lines[3]!.split(/\s{2,}/)).toEqual(['twitter-2019', 'default', 'farm (account-farm)', '50', '50', '10,000', '0', '0.00%', 'no', '—', '0.05%', '0.05%', '—']);
    expect(lines[4]!.split(/\s{2,}/)).toEqual(['organic-only', 'default', '(organic only)', '—', '—', '—', '—', '—', '—', '—', '0.00%', '0.00%', '—']);
    expect(lines[5]!.split(/\s{2,}/)).toEqual(['oracle-probe', 'default', 'oracle-probe', '1', '1', '0', '0', '—', 'no', '—', '0.05%', '0.05%', '—']);
    // Columns line up: text left-aligned, numbers right-aligned.
    expect(lines[2]!.indexOf('scanner')).toBe(lines[0]!.indexOf('attacker'));
    expect(lines[4]!.indexOf('(organic only)')).toBe(lines[0]!.indexOf('attacker'));
    const fakeEnd = lines[0]!.indexOf('fake accounts') + 'fake accounts'.length;
    expect(lines[2]!.indexOf('1,200') + '1,200'.length).toBe(fakeEnd);
  });

  it('formats the markdown table', () => {
    const md = summaryMarkdown(results).trimEnd().split('\n');
    expect(md).toHaveLength(6);
    expect(md.every((l) => l.startsWith('|') && l.endsWith('|'))).toBe(true);
    expect(md[1]).toMatch(/^\|:-+\|:-+\|:-+\|-+:\|/);
    expect(md[2]!.split('|').map((c) => c.trim()).slice(1, -1)).toEqual(['twitter-2019', 'default', 'scanner (range-scan)', '1,200', '300', '10,000', '250', '2.50%', 'yes (42.5 min)', '4,800.0', '0.05%', '0.05%', '—']);
    const piped = summaryMarkdown([{ ...quiet, scenario: 'a|b' }]);
    expect(piped).toContain('a\\|b');
  });

  it('shows tiny non-zero shares as <0.01%', () => {
    expect(formatPercent(0)).toBe('0.00%');
    expect(formatPercent(0.00001)).toBe('<0.01%');
    expect(formatPercent(0.123456)).toBe('12.35%');
    expect([768.74, 3.8, 4098.36, 12, 0.04].map(formatCost)).toEqual(['768.7', '3.8', '4,098.4', '12.0', '0.0']);
  });
});

describe('renderReport', () => {
  const html = renderReport(results, timings, { title: 'Test <report>' });

  it('loads nothing from the network', () => {
    expect(html).not.toMatch(/<script[^>]*\ssrc\s*=/i);
    expect(html).not.toMatch(/<link[^>]*\shref\s*=/i);
    expect(html).not.toMatch(/<(img|iframe|audio|video|source|embed|object)\b/i);
    expect(html).not.toMatch(/\b(src|href|action)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    // The only absolute URL is the comment naming uPlot's home in its banner.
    const urls = html.match(/https?:\/\/[^\s"'<>)]+/g) ?? [];
    expect(urls.every((u) => u.startsWith('https://github.com/leeoniya/uPlot'))).toBe(true);
  });

  it('inlines the chart library', () => {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    expect(html).toContain(js.slice(0, 2000));
    expect(html).toContain(js.slice(-2000));
    expect(html).toContain(css);
    expect(html).toContain('new uPlot(');
  });

  it('escapes text from results', () => {
    expect(html).toContain('Range scan from &lt;b&gt;hosting&lt;/b&gt; &amp; &quot;friends&quot;');
    expect(html).not.toContain('<b>hosting</b>');
    expect(html).toContain('<title>Test &lt;report&gt;</title>');
    expect(html).toContain('sync &lt;one&gt;');
    expect(escapeHtml(`<b>&"'`)).toBe('&lt;b&gt;&amp;&quot;&#39;');
  });

  it('contains the summary rows', () => {
    for (const cell of ['scanner (range-scan)', 'farm (account-farm)', '(organic only)', 'oracle-probe', 'yes (42.5 min)', '2.50%', '4,800.0']) {
      expect(html).toContain(`<td${cell.endsWith('%') || /^[\d,.]+$/.test(cell) ? ' class="n"' : cell.startsWith('yes') ? ' class="good"' : ''}>${escapeHtml(cell)}</td>`);
    }
    expect(html).toContain('accounts per 1,000 exposed');
  });

  it('embeds the input as JSON that parses back', () => {
    const data = dataBlock(html) as { title: string; results: unknown; timings: unknown; charts: unknown };
    expect(data.results).toEqual(results);
    expect(data.timings).toEqual(timings);
    expect(data.title).toBe('Test <report>');
    expect(data.charts).toEqual(results.map(chartData));
    // No raw "<" in the block, so "</script" inside data cannot end it early.
    const evil = { ...quiet, description: '</script><script>alert(1)</script><!--' };
    const evilHtml = renderReport([evil], []);
    expect((dataBlock(evilHtml) as { results: SimulationResult[] }).results[0]!.description).toBe(evil.description);
    expect(evilHtml).not.toContain('<script>alert(1)');
    expect(jsonForScript({ s: '</script>' })).toBe('{"s":"\\u003c/script>"}');
  });

  it('shows probes, timing AUCs labelled wall-clock, and "no refusals"', () => {
    const oracleSection = html.slice(html.indexOf('id="scenario-3"'));
    expect(oracleSection).toContain('<th>two_factor_only</th>');
    expect(oracleSection).toMatch(/<td>sync &lt;one&gt;<\/td><td class="good">no<\/td><td class="bad">yes<\/td><td class="good">no<\/td><td class="control">yes<\/td>/);
    expect(oracleSection).toContain('<th>discoverable (control)</th>');
    expect(oracleSection).toContain('Some probe tells a class of number apart');
    expect(oracleSection).toContain('wall-clock, not reproducible');
    expect(oracleSection).toContain('0.777');
    expect(oracleSection).toContain('No refusals by scope');
    const quietSection = html.slice(html.indexOf('id="scenario-2"'), html.indexOf('id="scenario-3"'));
    expect(quietSection).toContain('No attackers in this scenario.');
    const scanSection = html.slice(html.indexOf('id="scenario-1"'), html.indexOf('id="scenario-2"'));
    expect(scanSection).toContain('id="exposure-0"');
    expect(scanSection).toContain('id="organic-0"');
    expect(scanSection).toContain('<td>account-daily</td>');
  });

  it('does not count the discoverable control class as a leak', () => {
    const clean = structuredClone(oracle);
    clean.attackers[0]!.details = {
      probes: [{ probe: 'lookup e164', distinguishes: { undiscoverable: false, two_factor_only: false, suspended: false, discoverable: true } }],
    };
    const page = renderReport([clean], []);
    expect(page).toContain('No probe tells any class of number apart');
    expect(page).toContain('No timing measurements (wall-clock)');
  });

  it('is deterministic', () => {
    expect(renderReport(results, timings, { title: 'Test <report>' })).toBe(html);
    expect(renderReport(structuredClone(results), structuredClone(timings), { title: 'Test <report>' })).toBe(html);
  });
});

describe('chartData', () => {
  it('carries exposure forward on a shared hour axis and fills organic hours', () => {
    const c = chartData(scan);
    expect(c.exposure).toEqual({
      names: ['scanner', 'farm'],
      x: [0, 1, 2, 3, 6],
      ys: [
        [0.01, 0.02, 0.02, 0.025, 0.025],
        [0, 0, 0, 0, 0],
      ],
    });
    expect(c.organic).toEqual({ x: [0, 1, 2, 3, 4, 5], syncs: [1500, 0, 2500, 0, 0, 0], refused: [0, 0, 2, 0, 0, 0] });
    expect(chartData(oracle)).toEqual({ exposure: null, organic: null });
  });
});

describe('several policies', () => {
  const signal: SimulationResult = {
    ...structuredClone(scan),
    policy: 'signal-like',
    attackers: [attacker({ exposed: 9000, exposure: 0.9, containment: { contained: false, minutes: null, numbersQueried: 600_000 } }), scan.attackers[1]!],
    organic: organic({ syncsRefused: 0, syncRefusedShare: 0 }),
  };
  // Out of order on purpose: the scenario's second policy comes after another scenario.
  const mixed = [scan, quiet, signal];
  const mixedTimings: TimingReport[] = [
    { scenario: 'twitter-2019', policy: 'default', wallSeconds: 3.2, eventsPerSecond: 1111 },
    { scenario: 'organic-only', policy: 'default', wallSeconds: 0.1, eventsPerSecond: 2222 },
    { scenario: 'twitter-2019', policy: 'signal-like', wallSeconds: 4.4, eventsPerSecond: 3333 },
  ];

  it('groups summary rows by scenario, policies in the order they ran', () => {
    expect(summaryRows(mixed).map((r) => [r.scenario, r.policy, r.attacker])).toEqual([
      ['twitter-2019', 'default', 'scanner'],
      ['twitter-2019', 'default', 'farm'],
      ['twitter-2019', 'signal-like', 'scanner'],
      ['twitter-2019', 'signal-like', 'farm'],
      ['organic-only', 'default', null],
    ]);
  });

  it('shows a comparison table, the policy in each section title, and each run its own timing', () => {
    const html = renderReport(mixed, mixedTimings);
    const compare = html.slice(html.indexOf('<section id="comparison">'), html.indexOf('<section id="summary">'));
    expect(compare).toContain('<th colspan="3" class="group">default</th><th colspan="3" class="group">signal-like</th>');
    // Scenario with two attackers: one row each; under signal-like the scanner exposes 90%, uncontained.
    expect(compare).toMatch(/<tr><td>twitter-2019: scanner<\/td><td class="n">2\.50%<\/td><td class="n">0\.05%<\/td><td class="nowrap good">yes \(42\.5 min\)<\/td><td class="n">90\.00%<\/td><td class="n">0\.00%<\/td><td class="nowrap bad">no<\/td><\/tr>/);
    expect(compare).toMatch(/<tr><td>organic-only<\/td><td class="n">—<\/td><td class="n">0\.00%<\/td><td class="nowrap">—<\/td><td class="n">—<\/td><td class="n">—<\/td><td>—<\/td><\/tr>/);
    expect(html.indexOf('<section id="comparison">')).toBeLessThan(html.indexOf('<section id="summary">'));
    const titles = [...html.matchAll(/<h2>([^\n]*?)<\/h2>/g)].map((m) => m[1]);
    expect(titles).toEqual([
      'Policies compared',
      'Summary',
      'Organic harm',
      'Attacker cost',
      'twitter-2019 <span class="policy">policy default</span>',
      'twitter-2019 <span class="policy">policy signal-like</span>',
      'organic-only <span class="policy">policy default</span>',
    ]);
    const second = html.slice(html.indexOf('id="scenario-2"'), html.indexOf('id="scenario-3"'));
    expect(second).toContain('3,333 events/s');
  });

  it('has no comparison with a single policy', () => {
    expect(renderReport(results, timings)).not.toContain('id="comparison"');
  });
});

describe('organic harm and attacker cost tables', () => {
  it('name what refused organic syncs, the launch-day first syncs, the targets, and the cost per 1,000 exposed', () => {
    const launch: SimulationResult = {
      ...quiet,
      scenario: 'launch-day',
      organic: organic({
        syncsRefusedByReason: { '429 rate_limited/account (scattered-list)': 4, '403 account_suspended': 1 },
        suspendedBy: { 'cluster: coordination+enumeration': 1 },
        surge: { country: 'MX', arrived: 50, firstSyncs: 48, firstSyncsRefused: 2, firstSyncsNeverAnswered: 0, largestFirstSync: 5000, refusedByReason: {} },
        byKind: { student: { accounts: 3, suspended: 0, syncs: 5, syncsRefused: 4, syncRefusedShare: 0.8, refusedByReason: {} } },
      }),
    };
    const text = harmAndCostText([scan, launch]);
    expect(text).toContain('429 rate_limited/account (scattered-list) ×4; 403 account_suspended ×1');
    expect(text).toContain('80.00% of 5');
    const md = harmMarkdown([launch]).split('\n');
    expect(md[2]!.split('|').map((c) => c.trim()).slice(1, -1)).toEqual(['launch-day', 'default', '2,000', '0.05%', '0.05%', '—', '80.00% of 5', '2 of 48', 'no', '429 rate_limited/account (scattered-list) ×4; 403 account_suspended ×1', 'cluster: coordination+enumeration ×1']);
    const cost = costMarkdown([scan]).split('\n');
    expect(cost[2]!.split('|').map((c) => c.trim()).slice(1, -1)).toEqual(['twitter-2019', 'default', 'scanner', '2.50%', '250', '4,800.0', '0.0', '0', '0']);
  });
});
