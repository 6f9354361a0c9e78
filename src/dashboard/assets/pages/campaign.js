import { api, boot, facts, fmtTime, h, section, table } from '../console.js';
import { drawGraph } from '../graph.js';

function pick(...xs) {
  return xs.find((x) => x !== undefined && x !== null);
}

boot(async (main) => {
  const id = main.dataset.id;
  const c = await api('GET', `/campaigns/${encodeURIComponent(id)}`);
  const head = pick(c.campaign, c);
  const summary = pick(c.summary, {});
  main.querySelector('h1').textContent = `Campaign ${id}`;

  main.append(
    h(
      'div',
      { class: 'cards' },
      [
        ['status', head.status],
        ['accounts', pick(head.accounts, summary.accounts)],
        ['exposed accounts', pick(head.exposedAccounts, summary.exposures && summary.exposures.accounts)],
        ['exposures', head.exposurePairs],
        ['suspended', head.accountStatus && head.accountStatus.suspended],
        ['calls answered / refused / challenged', head.lookups ? `${head.lookups.allowed} / ${head.lookups.refused} / ${head.lookups.challenged}` : undefined],
        ['numbers asked', head.numbersAsked],
        ['from', fmtTime(head.firstSeen)],
        ['to', fmtTime(head.lastSeen)],
        ['score', typeof head.score === 'number' ? head.score.toFixed(2) : head.score],
      ].map(([k, v]) => h('div', { class: 'card' }, h('div', { class: 'v' }, v === undefined || v === null ? '—' : String(v)), h('div', { class: 'k' }, k))),
    ),
  );

  // The cluster: accounts and the evidence that ties them, laid out by the server.
  const graphBox = h('div', { id: 'graph', 'aria-label': 'campaign cluster graph' });
  const graphNote = h('p', { class: 'note' });
  main.append(
    section(
      'Cluster',
      h(
        'div',
        { class: 'legend' },
        h('span', {}, h('i', { class: 'acc' }), 'account'),
        h('span', {}, h('i', { class: 'dev' }), 'device'),
        h('span', {}, h('i', { class: 'sub' }), 'subnet'),
        h('span', {}, h('i', { class: 'asn' }), 'ASN'),
        h('span', {}, h('b', { class: 'in-step' }), 'acting in step'),
      ),
      graphBox,
      graphNote,
    ),
  );
  const graph = await api('GET', `/campaigns/${encodeURIComponent(id)}/graph`);
  const drawn = drawGraph(graphBox, graph);
  graphNote.textContent = `${drawn.nodes} nodes, ${drawn.edges} edges${graph.truncated ? ' (the largest part of the cluster)' : ''}. Scroll to zoom, drag to move, click an account to open it.`;

  const timeline = pick(c.timeline, c.decisions, []);
  main.append(
    section(
      'Timeline',
      table(timeline, [
        ['at', 'at', (v) => fmtTime(v)],
        ['event', 'what'],
        ['scope', 'scope'],
        ['count', 'how many'],
        ['source', 'source'],
        ['actor', 'by'],
      ]),
    ),
  );

  const origins = pick(c.origins, { countries: summary.countries, asns: summary.asns });
  main.append(
    section(
      'Origins',
      h(
        'div',
        { class: 'charts' },
        h('div', {}, h('h3', {}, 'By country'), table(origins.countries || [], [['country', 'country', (v) => v ?? 'unknown'], ['lookups', 'calls']])),
        h('div', {}, h('h3', {}, 'By ASN'), table(origins.asns || [], [['asn', 'ASN', (v) => (v === null || v === undefined ? 'unknown' : `AS${v}`)], ['lookups', 'calls']])),
      ),
    ),
  );

  const blocks = pick(c.blocks, summary.blocks, {});
  const blockList = pick(blocks.top, blocks.list, []);
  main.append(
    section(
      'Number blocks probed',
      h('p', {}, `${blocks.distinct ?? blockList.length} blocks (E.164 without the last 4 digits), ${blocks.numbers ?? '—'} numbers asked${blocks.truncated ? ' (the most probed listed)' : ''}.`),
      table(blockList.slice(0, 200), [['block', 'block'], ['numbers', 'numbers asked']]),
    ),
  );

  main.append(
    section(
      'Exposures',
      h('p', {}, `${head.exposedAccounts ?? 0} accounts were revealed to the campaign's accounts, ${head.exposurePairs ?? 0} times in all. The export lists each: the campaign account, the account revealed, and when (ids only).`),
      h('p', {}, h('a', { href: `/admin/v1/campaigns/${encodeURIComponent(id)}/exposures.csv`, download: `${id}-exposures.csv`, id: 'exposures-csv' }, 'Download the exposures (CSV)')),
    ),
  );

  // Disclosure starts from here: an incident gathers campaigns for the regulator's report (Art. 33).
  main.append(section('Disclosure', h('p', {}, h('a', { href: `/dashboard/incidents?campaign=${encodeURIComponent(id)}`, id: 'open-incident-link' }, 'Open an incident for this campaign'))));

  if (c.evidence) main.append(section('Evidence', Array.isArray(c.evidence.samples) ? h('ul', {}, c.evidence.samples.map((x) => h('li', {}, String(x)))) : facts(c.evidence)));
});
