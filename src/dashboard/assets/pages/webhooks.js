import { api, boot, fmtTime, h, pager, query, select, table } from '../console.js';

boot(async (main, operator) => {
  const failed = query('failed') || '';
  main.append(
    h(
      'form',
      { method: 'get', action: '/dashboard/webhooks' },
      h('label', {}, h('span', {}, 'Show'), select('failed', [['', 'every delivery'], ['true', 'failures only']], failed)),
      h('button', { type: 'submit' }, 'Show'),
    ),
  );
  const list = h('div', { id: 'deliveries' });
  main.append(list);
  await pager(list, async (cursor) => {
    const qs = new URLSearchParams();
    if (failed) qs.set('failed', failed);
    if (cursor) qs.set('cursor', cursor);
    const page = await api('GET', `/webhooks/deliveries${qs.size ? `?${qs}` : ''}`);
    const items = page.items || page.deliveries || [];
    return {
      nextCursor: page.nextCursor,
      node: table(
        items,
        [
          ['id', 'id'],
          ['type', 'event', (v, r) => v || r.event || '—'],
          ['status', 'status', (v, r) => v || (r.deliveredAt ? 'delivered' : r.lastError ? 'failing' : 'pending')],
          ['attempts', 'attempts'],
          ['createdAt', 'created', (v) => fmtTime(v)],
          ['deliveredAt', 'delivered', (v) => fmtTime(v)],
          ['nextAttemptAt', 'next attempt', (v) => fmtTime(v)],
          ['lastError', 'last error', (v) => v || '—'],
          ...(operator.role === 'admin'
            ? [['id', '', (v) => h('button', { type: 'button', class: 'redeliver', onclick: async (e) => {
                e.target.disabled = true;
                try {
                  await api('POST', `/webhooks/deliveries/${encodeURIComponent(v)}/redeliver`);
                  e.target.textContent = 'Queued';
                } catch (err) {
                  e.target.disabled = false;
                  alert(err.message);
                }
              } }, 'Redeliver')]]
            : []),
        ],
        { empty: 'No deliveries.' },
      ),
    };
  });
});
