import { api, boot, fmtCell, h, query, section } from '../console.js';

const WINDOWS = ['hour', 'day', 'week'];
const PALETTE = ['#2456a6', '#d1495b', '#2a9d8f', '#e9a23b', '#7b4fa0', '#5c6b73', '#8ab17d', '#e76f51'];

/** uPlot counts time in seconds; the API may answer milliseconds. */
function seconds(t) {
  return t.map((x) => (x > 1e11 ? x / 1000 : x));
}

/** `right`: a series name drawn on a scale of its own (right axis), when its size dwarfs the others. */
function chart(container, title, t, named, right) {
  const names = Object.keys(named);
  const box = h('div', { class: 'plot' });
  container.append(h('div', { class: 'chart', dataset: { chart: title } }, h('h3', {}, title), box));
  if (names.length === 0) {
    box.append(h('p', { class: 'none' }, 'Nothing in this window.'));
    return;
  }
  const width = Math.max(360, Math.floor(box.getBoundingClientRect().width) || 560);
  // eslint-disable-next-line no-undef
  new uPlot(
    {
      width,
      height: 220,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] }, r: { range: (u, min, max) => [0, Math.max(1, max)] } },
      series: [
        {},
        ...names.map((n, i) => ({ label: n, scale: n === right ? 'r' : 'y', stroke: PALETTE[i % PALETTE.length], width: 2, fill: i === 0 ? 'rgba(36,86,166,0.08)' : undefined, points: { show: false } })),
      ],
      axes: [{}, { size: 56 }, ...(right ? [{ scale: 'r', side: 1, size: 56, grid: { show: false }, stroke: PALETTE[names.indexOf(right) % PALETTE.length] }] : [])],
    },
    [seconds(t), ...names.map((n) => named[n])],
    box,
  );
}

function card(label, value, bad) {
  return h('div', { class: `card${bad ? ' bad' : ''}` }, h('div', { class: 'v' }, value), h('div', { class: 'k' }, label));
}

boot(async (main) => {
  const window = WINDOWS.includes(query('window')) ? query('window') : 'day';
  main.append(
    h(
      'p',
      { class: 'windows' },
      'Window: ',
      WINDOWS.map((w) => h('a', { href: `?window=${w}`, 'aria-current': w === window ? 'true' : 'false' }, `last ${w}`)),
    ),
  );
  const o = await api('GET', `/overview?window=${window}`);
  const s = o.series || {};
  const t = s.t || [];

  const tripped = o.breaker ? o.breaker.tripped : null;
  const breaker = tripped === true ? 'tripped' : tripped === false ? 'closed' : 'unknown';
  const open = o.openCampaigns;
  const engine = o.engine || {};
  main.append(
    h(
      'div',
      { class: 'cards' },
      card('breaker', breaker, tripped === true),
      card('engine lag (events)', fmtCell(engine.lag)),
      card('newest event', typeof engine.newestEventAgeSeconds === 'number' ? `${Math.round(engine.newestEventAgeSeconds)} s ago` : '—'),
      card('events lost', fmtCell(engine.eventsLost), Number(engine.eventsLost) > 0),
      h('a', { href: '/dashboard/campaigns?status=open', class: 'card-link' }, card('open campaigns', fmtCell(open), Number(open) > 0)),
      card('discovery calls', String((s.calls || []).reduce((a, b) => a + (b || 0), 0))),
    ),
  );

  const charts = h('div', { class: 'charts' });
  main.append(section('Traffic', charts));
  chart(charts, 'Discovery calls and new numbers', t, { calls: s.calls || [], 'new numbers': s.newNumbers || [] }, 'new numbers');
  chart(charts, 'Refusals by layer', t, s.refusalsByLayer || {});
  chart(charts, 'Refusals by scope', t, s.refusalsByScope || {});
  chart(charts, 'Challenges', t, { challenges: s.challenges || [] });

});
