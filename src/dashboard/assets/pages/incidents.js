import { actionForm, api, boot, field, fmtTime, h, pager, query, select, table } from '../console.js';
import { timeLeft } from './incident-clock.js';

const STATUSES = [['', 'any status'], ['draft', 'draft'], ['in_review', 'in review'], ['approved', 'approved'], ['notified', 'notified'], ['closed', 'closed']];

boot(async (main, operator) => {
  const status = STATUSES.some(([v]) => v === query('status')) ? query('status') : '';
  main.append(
    h('form', { method: 'get', action: '/dashboard/incidents' }, h('label', {}, h('span', {}, 'Status'), select('status', STATUSES, status)), h('button', { type: 'submit' }, 'Show')),
  );
  if (operator.role !== 'viewer') {
    // A campaign's id may come in the query (the campaign page links here): ids only, never personal data.
    const preset = /^[A-Za-z0-9_-]{1,128}$/.test(query('campaign') || '') ? query('campaign') : '';
    main.append(
      h('h2', {}, 'Open an incident'),
      actionForm(
        h(
          'form',
          { id: 'open-incident' },
          field('Title', h('input', { name: 'title', required: true, maxlength: 200, size: 40 })),
          field('Campaign ids (comma-separated)', h('input', { name: 'campaignIds', required: true, size: 40, value: preset })),
          field('Aware since (UTC, empty: now)', h('input', { name: 'awareAt', type: 'datetime-local' })),
          field('Owner', h('input', { name: 'owner', maxlength: 64, value: operator.name })),
          h('button', { type: 'submit', class: 'primary' }, 'Open incident'),
        ),
        async (v) => {
          const body = { title: v.title, campaignIds: (v.campaignIds || '').split(/[\s,]+/).filter(Boolean) };
          if (v.awareAt) body.awareAt = Date.parse(`${v.awareAt}Z`);
          if (v.owner) body.owner = v.owner;
          const made = await api('POST', '/incidents', body);
          location.assign(`/dashboard/incidents/${encodeURIComponent(made.incident.id)}`);
          return 'Opened.';
        },
      ),
    );
  }
  const list = h('div', { id: 'incident-list' });
  main.append(h('h2', {}, 'Incidents'), list);
  await pager(list, async (cursor) => {
    const qs = new URLSearchParams();
    if (status) qs.set('status', status);
    if (cursor) qs.set('cursor', cursor);
    const page = await api('GET', `/incidents${qs.size ? `?${qs}` : ''}`);
    return {
      nextCursor: page.nextCursor,
      node: table(
        page.items,
        [
          ['id', 'incident', (v) => h('a', { href: `/dashboard/incidents/${encodeURIComponent(v)}` }, v)],
          ['title', 'title'],
          ['status', 'status'],
          ['awareAt', 'aware since', (v) => fmtTime(v)],
          ['clock', 'deadline (72 h)', (c) => fmtTime(c.deadline)],
          ['clock', 'time left', (c) => (c.stopped ? 'reported' : timeLeft(c.remainingMs))],
          ['campaignIds', 'campaigns', (v) => v.join(', ')],
          ['owner', 'owner'],
          ['source', 'opened by', (v, r) => (v === 'engine' ? 'engine' : r.openedBy)],
        ],
        { empty: cursor ? 'No more.' : 'No incidents.' },
      ),
    };
  });
});
