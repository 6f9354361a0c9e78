import { api, boot, fmtTime, h, pager, query, select, table } from '../console.js';

boot(async (main, operator) => {
  const state = ['pending', 'delivered', 'failed'].includes(query('state')) ? query('state') : '';
  main.append(
    h(
      'form',
      { method: 'get', action: '/dashboard/webhooks' },
      h('label', {}, h('span', {}, 'Show'), select('state', [['', 'every delivery'], ['pending', 'pending'], ['delivered', 'delivered'], ['failed', 'failed (given up)']], state)),
      h('button', { type: 'submit' }, 'Show'),
    ),
  );
  const list = h('div', { id: 'deliveries' });
  main.append(list);
  await pager(list, async (cursor) => {
    const qs = new URLSearchParams();
    if (state) qs.set('state', state);
    if (cursor) qs.set('cursor', cursor);
    const page = await api('GET', `/webhooks/deliveries${qs.size ? `?${qs}` : ''}`);
    const items = page.items || page.deliveries || [];
    return {
      nextCursor: page.nextCursor,
      node: table(
        items,
        [
          ['id', 'id'],
          ['type', 'event'],
          ['state', 'state'],
          ['attempts', 'attempts'],
          ['createdAt', 'created', (v) => fmtTime(v)],
          ['deliveredAt', 'delivered', (v) => fmtTime(v)],
          ['nextAttemptAt', 'next attempt', (v) => fmtTime(v)],
          ['lastError', 'last error', (v) => v || '—'],
          ...(operator.role === 'admin'
            ? [['id', '', (v) => h('button', { type: 'button', class: 'redeliver', onclick: async (e) => {
                e.target.disabled = true;
                try {
                  await api('POST', `/webhooks/deliveries/${encodeURIComponent(v)}/redeliver`, {});
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
