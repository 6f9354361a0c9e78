import { api, boot, fmtCell, fmtTime, h, pager, query, table } from '../console.js';

// Every operator action and sign-in, newest first. The subject filter takes findguard's own
// subjects (account:<id>, decision:<id>, batch:<id>): ids, never a handle or a number.

boot(async (main) => {
  const subject = query('subject') || '';
  main.append(
    h(
      'form',
      { method: 'get', action: '/dashboard/audit' },
      h('label', {}, h('span', {}, 'Subject'), h('input', { name: 'subject', value: subject, placeholder: 'account:<id>', pattern: '[a-z]+:[A-Za-z0-9_.:/-]+', size: 40 })),
      h('button', { type: 'submit' }, 'Filter'),
    ),
  );
  const list = h('div', { id: 'audit-list' });
  main.append(list);
  await pager(list, async (cursor) => {
    const qs = new URLSearchParams();
    if (subject) qs.set('subject', subject);
    if (cursor) qs.set('cursor', cursor);
    const page = await api('GET', `/audit${qs.size ? `?${qs}` : ''}`);
    const items = page.items || page.entries || [];
    const actor = (v, r) => {
      const a = v && typeof v === 'object' ? v : { name: r.actorName ?? v, role: r.actorRole, via: r.via };
      return `${a.name ?? '—'}${a.role ? ` (${a.role}${a.via ? `, ${a.via}` : ''})` : ''}`;
    };
    return {
      nextCursor: page.nextCursor,
      node: table(
        items,
        [
          ['at', 'at', (v, r) => fmtTime(v ?? r.createdAt)],
          ['actor', 'who', actor],
          ['from', 'from', (v) => v || '—'],
          ['tool', 'tool', (v) => v || '—'],
          ['action', 'action'],
          ['subject', 'subject', (v) => {
            const m = /^account:(.+)$/.exec(v || '');
            return m ? h('a', { href: `/dashboard/accounts/${encodeURIComponent(m[1])}` }, v) : v || '—';
          }],
          ['reason', 'reason', (v) => v || '—'],
          ['batchId', 'batch', (v) => v || '—'],
          ['before', 'before', (v) => (v === undefined || v === null ? '—' : fmtCell(v))],
          ['after', 'after', (v) => (v === undefined || v === null ? '—' : fmtCell(v))],
        ],
        { empty: 'No entries.', rowAttrs: (r) => ({ dataset: { action: r.action || '', subject: r.subject || '' } }) },
      ),
    };
  });
});
