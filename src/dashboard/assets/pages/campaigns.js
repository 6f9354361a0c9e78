import { api, boot, fmtTime, h, pager, query, select, table } from '../console.js';

const STATUSES = [['', 'any status'], ['open', 'open'], ['closed', 'closed']];

boot(async (main) => {
  const status = query('status') || '';
  const filter = h(
    'form',
    { method: 'get', action: '/dashboard/campaigns' },
    h('label', {}, h('span', {}, 'Status'), select('status', STATUSES, status)),
    h('button', { type: 'submit' }, 'Show'),
  );
  main.append(filter);
  const list = h('div', { id: 'campaign-list' });
  main.append(list);
  await pager(list, async (cursor) => {
    const qs = new URLSearchParams();
    if (status) qs.set('status', status);
    if (cursor) qs.set('cursor', cursor);
    const page = await api('GET', `/campaigns${qs.size ? `?${qs}` : ''}`);
    const items = page.items || page.campaigns || [];
    return {
      nextCursor: page.nextCursor,
      node: table(
        items,
        [
          ['id', 'campaign', (v) => h('a', { href: `/dashboard/campaigns/${encodeURIComponent(v)}` }, v)],
          ['status', 'status'],
          ['firstSeen', 'from', (v) => fmtTime(v)],
          ['lastSeen', 'to', (v) => fmtTime(v)],
          ['accounts', 'accounts'],
          ['exposedAccounts', 'exposed accounts'],
          ['exposurePairs', 'exposures'],
          ['countries', 'origins', (v) => (Array.isArray(v) ? v.join(', ') : '—')],
          ['score', 'score', (v) => (typeof v === 'number' ? v.toFixed(2) : '—')],
        ],
        { empty: cursor ? 'No more.' : 'No campaigns.' },
      ),
    };
  });
});
