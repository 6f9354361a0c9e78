import { actionForm, api, boot, field, fmtTime, h, section, select, table } from '../console.js';

// Operators (admins only): each one's role, status and how they sign in; set a role (never to or
// from a role above one's own, never one's own: the admin API refuses it whatever the page offers),
// disable or enable. A demotion and a disable end the operator's sessions at once.

const ROLES = [['viewer', 'viewer'], ['analyst', 'analyst'], ['admin', 'admin']];

boot(async (main, operator) => {
  if (operator.role !== 'admin') {
    main.append(h('p', { class: 'none' }, 'Managing operators needs the admin role.'));
    return;
  }
  const { operators } = await api('GET', '/operators');
  const roleForm = (o) => {
    const form = h(
      'form',
      { class: 'set-role', dataset: { name: o.name } },
      select('role', ROLES, o.role),
      h('input', { name: 'reason', placeholder: 'reason', maxlength: 500, size: 16, 'aria-label': `reason to change ${o.name}'s role` }),
      h('button', { type: 'submit' }, 'Set role'),
    );
    return actionForm(form, async (v) => {
      const r = await api('POST', `/operators/${encodeURIComponent(o.id)}/role`, { role: v.role, ...(v.reason ? { reason: v.reason } : {}) });
      return `Now ${r.operator.role}${r.sessionsEnded ? `; ${r.sessionsEnded} session(s) ended` : ''}.`;
    });
  };
  const statusButton = (o) =>
    h('button', { type: 'button', class: o.status === 'active' ? 'danger toggle' : 'toggle', dataset: { name: o.name }, onclick: async (e) => {
      const verb = o.status === 'active' ? 'disable' : 'enable';
      const reason = prompt(`Reason to ${verb} ${o.name}`);
      if (!reason) return;
      e.target.disabled = true;
      try {
        await api('POST', `/operators/${encodeURIComponent(o.id)}/${verb}`, { reason });
        location.reload();
      } catch (err) {
        e.target.disabled = false;
        alert(err.message);
      }
    } }, o.status === 'active' ? 'Disable' : 'Enable');
  const names = new Map(operators.map((o) => [o.id, o.name]));
  // A password and TOTP another operator was handed (added through the admin API) approves no report.
  const heldBy = (o) => (o.signInHeldBy ? ` (held by ${names.get(o.signInHeldBy) ?? o.signInHeldBy}: cannot approve until its TOTP is reset on the server)` : '');
  main.append(
    section(
      'Operators',
      h('div', { id: 'operator-list' },
        table(
          operators,
          [
            ['name', 'name'],
            ['role', 'role', (v) => h('span', { class: 'pill role' }, v)],
            ['status', 'status'],
            ['password', 'sign-in', (v, o) => [v ? 'password+TOTP' : '', o.oidc ? 'OIDC' : ''].filter(Boolean).join(', ') + heldBy(o)],
            ['createdAt', 'created', (v) => fmtTime(v)],
            ['id', 'role change', (v, o) => (o.id === operator.id ? 'yourself' : o.oidc ? 'from OIDC groups' : roleForm(o))],
            ['id', '', (v, o) => (o.id === operator.id ? '' : statusButton(o))],
          ],
          { empty: 'No operators.', rowAttrs: (o) => ({ dataset: { name: o.name, role: o.role, status: o.status } }) },
        ),
      ),
      h('p', { class: 'note' }, 'Add operators and reset their TOTP with the CLI: findguard operators add NAME --role ROLE.'),
    ),
  );
});
