import { actionForm, api, boot, field, fmtTime, h, pager, query, section, select, table } from '../console.js';

// Decisions, CrowdSec-style: every standing decision with its scope and source; one added by
// hand, lifted, or many applied as one batch that is undone as one. A shadow decision (an
// operator's trial, or the engine's while its policy is in shadow mode) is listed as what it
// "would" do and never enforced.

const SCOPES = ['account', 'device', 'ip', 'subnet', 'asn', 'country'];
const ACTIONS = [['throttle', 'throttle'], ['challenge', 'challenge'], ['suspend', 'suspend']];
const DURATIONS = [['', 'until lifted'], ['3600', '1 hour'], ['14400', '4 hours'], ['86400', '1 day'], ['604800', '1 week']];

function statusOf(d) {
  if (d.status) return d.status;
  if (d.shadow) return 'would';
  if (d.liftedAt) return 'lifted';
  return 'active';
}

boot(async (main, operator) => {
  const canAct = operator.role !== 'viewer';
  const filter = { scope: query('scope') || '', source: query('source') || '', active: query('active') ?? 'true', shadow: ['true', 'false'].includes(query('shadow')) ? query('shadow') : '' };
  main.append(
    h(
      'form',
      { method: 'get', action: '/dashboard/decisions', id: 'decision-filter' },
      field('Scope', select('scope', [['', 'any'], ...SCOPES.map((s) => [s, s])], filter.scope)),
      field('Source', select('source', [['', 'any'], ['engine', 'engine'], ['operator', 'operator']], filter.source)),
      field('Standing', select('active', [['true', 'in force'], ['false', 'expired or lifted'], ['', 'all']], filter.active)),
      field('Enforced', select('shadow', [['', 'enforced and "would"'], ['false', 'enforced only'], ['true', '"would" only (shadow)']], filter.shadow)),
      h('button', { type: 'submit' }, 'Show'),
    ),
  );

  const batches = h('div', { id: 'batches' });
  const undoPanel = (batchId, count) => {
    const form = h(
      'form',
      { class: 'batch', dataset: { batch: batchId } },
      h('span', {}, `Batch ${batchId}${count !== undefined ? ` (${count} decisions)` : ''}`),
      field('Reason to undo', h('input', { name: 'reason', required: true, minlength: 3, maxlength: 1000, size: 40 })),
      h('button', { type: 'submit', class: 'danger' }, 'Undo batch'),
    );
    return actionForm(form, async (v) => {
      const r = await api('POST', `/batches/${encodeURIComponent(batchId)}/undo`, { reason: v.reason });
      setTimeout(() => location.reload(), 600);
      return `Undone: ${r.lifted ?? 0} lifted.`;
    });
  };

  if (canAct) {
    const add = h(
      'form',
      { id: 'add-decision' },
      field('Scope', select('scope', SCOPES.map((s) => [s, s]), 'asn')),
      field('Subject', h('input', { name: 'subject', required: true, maxlength: 128, placeholder: 'e.g. AS64500', autocomplete: 'off' })),
      field('Action', select('action', ACTIONS, 'throttle')),
      field('For', select('durationSeconds', DURATIONS, '14400')),
      field('Reason', h('input', { name: 'reason', required: true, minlength: 3, maxlength: 1000, size: 36 })),
      h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'shadow', value: 'true' }), 'trial only ("would")'),
      h('button', { type: 'submit', class: 'primary' }, 'Add decision'),
    );
    main.append(
      section(
        'Add a decision',
        actionForm(add, async (v) => {
          const d = await api('POST', '/decisions', {
            scope: v.scope,
            subject: v.subject,
            action: v.action,
            reason: v.reason,
            ...(v.durationSeconds ? { durationSeconds: Number(v.durationSeconds) } : {}),
            ...(v.shadow ? { shadow: true } : {}),
          });
          setTimeout(() => location.reload(), 600);
          return `Added ${d.id || ''}.`;
        }),
      ),
    );
  }

  const list = h('div', { id: 'decision-list' });
  const selected = new Map();
  const bulk = h(
    'form',
    { id: 'bulk-decision' },
    h('span', { id: 'selected-count' }, 'None selected.'),
    field('Action on the selected subjects', select('action', ACTIONS, 'throttle')),
    field('For', select('durationSeconds', DURATIONS, '14400')),
    field('Reason', h('input', { name: 'reason', required: true, minlength: 3, maxlength: 1000, size: 36 })),
    h('button', { type: 'submit', class: 'primary' }, 'Apply as one batch'),
  );
  const countSelected = () => {
    bulk.querySelector('#selected-count').textContent = selected.size ? `${selected.size} selected.` : 'None selected.';
  };
  if (canAct) {
    main.append(
      section(
        'Bulk action',
        h('p', { class: 'note' }, 'Select decisions below: their subjects get the new decision under one batch id, which can be undone as one.'),
        actionForm(bulk, async (v) => {
          if (selected.size === 0) throw new Error('Select at least one decision below.');
          const items = [...selected.values()].map((d) => ({
            scope: d.scope,
            subject: d.subject,
            action: v.action,
            ...(v.durationSeconds ? { durationSeconds: Number(v.durationSeconds) } : {}),
          }));
          const r = await api('POST', '/decisions/bulk', { items, reason: v.reason });
          batches.prepend(undoPanel(r.batchId, (r.decisions || items).length));
          return `Batch ${r.batchId}: ${(r.decisions || items).length} decisions.`;
        }),
        batches,
      ),
    );
  }

  main.append(section('Decisions', list));
  await pager(list, async (cursor) => {
    const qs = new URLSearchParams();
    if (filter.scope) qs.set('scope', filter.scope);
    if (filter.source) qs.set('source', filter.source);
    if (filter.active) qs.set('active', filter.active);
    if (filter.shadow) qs.set('shadow', filter.shadow);
    if (cursor) qs.set('cursor', cursor);
    const page = await api('GET', `/decisions${qs.size ? `?${qs}` : ''}`);
    const items = page.items || page.decisions || [];
    return {
      nextCursor: page.nextCursor,
      node: table(
        items,
        [
          ...(canAct
            ? [['id', '', (v, d) => h('input', { type: 'checkbox', 'aria-label': `select ${v}`, class: 'pick', dataset: { id: v }, onchange: (e) => {
                if (e.target.checked) selected.set(v, d);
                else selected.delete(v);
                countSelected();
              } })]]
            : []),
          ['status', 'status', (v, d) => h('span', { class: `pill ${statusOf(d)}` }, statusOf(d))],
          ['scope', 'scope'],
          ['subject', 'subject', (v, d) => (d.scope === 'account' ? h('a', { href: `/dashboard/accounts/${encodeURIComponent(v)}` }, v) : v)],
          ['action', 'action'],
          ['reason', 'reason'],
          ['source', 'source', (v, d) => (v === 'operator' ? `operator (${d.actor})` : v)],
          ['createdAt', 'created', (v) => fmtTime(v)],
          ['expiresAt', 'expires', (v) => (v ? fmtTime(v) : 'until lifted')],
          ['batchId', 'batch', (v, d) =>
            v && canAct && (statusOf(d) === 'active' || statusOf(d) === 'would')
              ? h('button', { type: 'button', class: 'undo-batch', title: 'undo every decision of this batch', onclick: () => {
                  if (!batches.querySelector(`form[data-batch="${CSS.escape(v)}"]`)) batches.prepend(undoPanel(v));
                  batches.scrollIntoView({ block: 'center' });
                } }, v)
              : v || '—'],
          ...(canAct
            ? [['id', '', (v, d) => (d.scope === 'account' && d.action === 'suspend' && statusOf(d) === 'active'
                ? h('a', { href: `/dashboard/accounts/${encodeURIComponent(d.subject)}` }, 'reinstate…')
                : statusOf(d) === 'active' || statusOf(d) === 'would' ? h('button', { type: 'button', class: 'danger lift', dataset: { id: v }, onclick: async (e) => {
                const reason = prompt('Reason to lift this decision');
                if (!reason) return;
                e.target.disabled = true;
                try {
                  await api('POST', `/decisions/${encodeURIComponent(v)}/lift`, { reason });
                  location.reload();
                } catch (err) {
                  e.target.disabled = false;
                  alert(err.message);
                }
              } }, 'Lift') : '')]]
            : []),
        ],
        { empty: 'No decisions.', rowAttrs: (d) => ({ class: statusOf(d) === 'would' ? 'would' : '', dataset: { id: d.id, batch: d.batchId || '' } }) },
      ),
    };
  });
});
