/** The report page's own stylesheet and script, inlined into every report (see report-html.ts). */

export const PAGE_CSS = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #fff; --soft: #f4f6f9; --good: #1f7a3a; --good-bg: #e7f5ec; --bad: #a3261b; --bad-bg: #fbeaea; --warn-bg: #fff5d6; --accent: #2456a6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 1.7em; margin: 0 0 .4em; }
h2 { font-size: 1.35em; margin: 1.6em 0 .4em; padding-bottom: .2em; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 1.4em 0 .5em; }
a { color: var(--accent); }
table { border-collapse: collapse; margin: .4em 0 .8em; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
table.attackers th { max-width: 8em; }
table.summary td { white-space: nowrap; }
table.compare th.group { text-align: center; }
table.compare td { white-space: nowrap; }
h2 .policy { font-size: .7em; font-weight: 600; color: var(--muted); background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 1px 7px; vertical-align: 2px; }
table.summary th { max-width: 9em; }
table.attackers td { font-size: 13px; }
td.control { color: var(--muted); background: var(--soft); }
td.n, th.n { text-align: right; }
td.n { white-space: nowrap; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; }
.scroll { overflow-x: auto; }
.good { color: var(--good); background: var(--good-bg); }
.bad { color: var(--bad); background: var(--bad-bg); }
.warn { background: var(--warn-bg); }
p.verdict { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: 600; }
.desc { font-size: 1.02em; }
.meta, .note, .none { color: var(--muted); font-size: 13.5px; }
.wall, .nowrap { white-space: nowrap; }
.wallclock { border-left: 4px solid #c9a227; padding: 2px 0 2px 12px; margin: 1em 0; }
.vocab { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 13.5px; color: var(--muted); }
.vocab dt { font-weight: 600; color: var(--fg); }
.vocab dd { margin: 0; }
.chart { width: 100%; margin: .3em 0 .5em; }
.chart .uplot { width: 100%; }
details { margin: .3em 0 1em; font-size: 13.5px; }
details summary { cursor: pointer; color: var(--accent); }
details table { margin-top: .5em; }
.track { display: inline-block; width: 6em; height: .8em; margin-right: .6em; background: var(--soft); border: 1px solid var(--line); border-radius: 2px; vertical-align: -1px; text-align: left; }
.track .bar { display: block; height: 100%; background: #7f9fd6; }
.scenario { margin-top: 2.2em; }
@media print { details { display: none; } .chart { break-inside: avoid; } }
`;

/** Draws the charts from the JSON block; without JavaScript the tables carry everything. */
export const CLIENT_JS = `
(function () {
  'use strict';
  if (typeof uPlot === 'undefined') return;
  var data = JSON.parse(document.getElementById('findguard-data').textContent);
  var palette = ['#2456a6', '#d1495b', '#2a9d8f', '#e9a23b', '#7b4fa0', '#5c6b73', '#8ab17d', '#e76f51'];
  var plots = [];
  function widthOf(el) { return Math.max(320, Math.floor(el.getBoundingClientRect().width)); }
  function pct(v) { return v == null ? '—' : (v * 100).toFixed(2) + '%'; }
  function count(v) { return v == null ? '—' : String(v); }
  function hour(v) { return v == null ? '—' : 'hour ' + v; }
  function atLeastOne(u, min, max) { return [0, Math.max(1, max)]; }
  var countIncrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];
  var hourIncrs = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 1440, 2160, 4320, 8760];
  var stepped = uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
  data.charts.forEach(function (c, i) {
    var el;
    if (c.exposure && (el = document.getElementById('exposure-' + i))) {
      var series = [{ label: 'hours since start', value: function (u, v) { return hour(v); } }];
      c.exposure.names.forEach(function (name, k) {
        var s = { label: name, stroke: palette[k % palette.length], width: 2, points: { show: false }, value: function (u, v) { return pct(v); } };
        if (stepped) s.paths = stepped;
        series.push(s);
      });
      plots.push([el, new uPlot({
        width: widthOf(el), height: 260,
        scales: { x: { time: false }, y: { range: [0, 1] } },
        axes: [
          { label: 'hours since start', incrs: hourIncrs },
          { label: 'exposure', size: 60, values: function (u, vals) { return vals.map(function (v) { return Math.round(v * 100) + '%'; }); } }
        ],
        series: series
      }, [c.exposure.x].concat(c.exposure.ys), el)]);
    }
    if (c.organic && (el = document.getElementById('organic-' + i))) {
      plots.push([el, new uPlot({
        width: widthOf(el), height: 240,
        scales: { x: { time: false }, syncs: { range: atLeastOne }, refused: { range: atLeastOne } },
        axes: [
          { label: 'hours since start', incrs: hourIncrs },
          { scale: 'syncs', label: 'organic syncs / hour', size: 60, incrs: countIncrs },
          { scale: 'refused', label: 'refused / hour', side: 1, size: 60, stroke: '#d1495b', grid: { show: false }, incrs: countIncrs }
        ],
        series: [
          { label: 'hours since start', value: function (u, v) { return hour(v); } },
          { label: 'organic syncs', scale: 'syncs', stroke: '#2456a6', fill: 'rgba(36,86,166,0.08)', width: 1.5, points: { show: false }, value: function (u, v) { return count(v); } },
          { label: 'refused (right axis)', scale: 'refused', stroke: '#d1495b', width: 1.5, points: { show: false }, value: function (u, v) { return count(v); } }
        ]
      }, [c.organic.x, c.organic.syncs, c.organic.refused], el)]);
    }
  });
  var pending;
  window.addEventListener('resize', function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      plots.forEach(function (p) { p[1].setSize({ width: widthOf(p[0]), height: p[1].height }); });
    }, 100);
  });
})();
`;
