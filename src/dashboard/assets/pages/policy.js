import { actionForm, api, boot, facts, field, h, section, table } from '../console.js';

// The active policy as tables, and a what-if: a candidate policy replayed over the stored lookup
// events of a window, showing what it would have refused, the organic-looking accounts it would
// have touched and the campaign accounts it would have caught.

function isoLocal(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function render(value) {
  if (Array.isArray(value)) return value.length && typeof value[0] === 'object' ? table(value) : h('p', {}, value.join(', ') || '—');
  if (value && typeof value === 'object') return facts(value);
  return h('p', {}, String(value));
}

boot(async (main, operator) => {
  const p = await api('GET', '/policy');
  const tables = p.tables || p.sections || p.policy || p;
  main.append(h('p', {}, `Active policy: `, h('strong', { id: 'policy-name' }, p.name || (p.policy && p.policy.name) || '—')));
  const active = h('div', { id: 'policy-tables' });
  for (const [name, value] of Object.entries(tables)) {
    if (name === 'name' || name === 'yaml' || name === 'source') continue;
    active.append(h('h3', {}, name), render(value));
  }
  main.append(section('Active policy', active));

  const now = Date.now();
  const form = h(
    'form',
    { id: 'what-if', class: 'whatif' },
    field(
      'Candidate policy (a built-in name, or YAML)',
      h('textarea', { name: 'policy', rows: 10, cols: 80, required: true, spellcheck: 'false' }, p.yaml || p.source || p.name || 'default'),
    ),
    field('From', h('input', { type: 'datetime-local', name: 'from', required: true, value: isoLocal(now - 86_400_000) })),
    field('To', h('input', { type: 'datetime-local', name: 'to', required: true, value: isoLocal(now) })),
    h('button', { type: 'submit', class: 'primary' }, 'Run what-if'),
  );
  const result = h('div', { id: 'what-if-result' });
  main.append(
    section(
      'What if',
      operator.role === 'admin' || operator.role === 'analyst'
        ? actionForm(form, async (v) => {
            result.replaceChildren(h('p', { class: 'status' }, 'Replaying…'));
            const r = await api('POST', '/policy/what-if', {
              policy: v.policy,
              from: new Date(v.from).toISOString(),
              to: new Date(v.to).toISOString(),
            });
            result.replaceChildren(render(r));
            return 'Done.';
          })
        : h('p', { class: 'none' }, 'Viewers cannot run a what-if.'),
      result,
    ),
  );
});
