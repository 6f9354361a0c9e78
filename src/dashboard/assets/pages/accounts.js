import { actionForm, api, ApiError, boot, facts, field, fmtTime, h, section, select, table } from '../console.js';

// Accounts are looked up by account id or by handle, never by phone number: the console must not
// become the oracle the discovery API refuses to be. A handle travels in a POST body only, so it
// never lands in a URL, a browser history or an access log; the account page's URL holds the id.

function lookupForm() {
  const form = h(
    'form',
    { id: 'account-lookup' },
    field('Look up by', select('by', [['id', 'account id'], ['handle', 'handle']], 'id')),
    field('Account id or handle', h('input', { name: 'q', required: true, maxlength: 128, autocomplete: 'off', size: 32 })),
    h('button', { type: 'submit', class: 'primary' }, 'Look up'),
  );
  return actionForm(form, async (v) => {
    const q = v.q.trim().replace(/^@/, '');
    let id = q;
    if (v.by === 'handle') {
      const found = await api('POST', '/accounts/search', { handle: q });
      id = found.account.id;
    } else {
      await api('GET', `/accounts/${encodeURIComponent(id)}`);
    }
    location.assign(`/dashboard/accounts/${encodeURIComponent(id)}`);
    return '';
  });
}

function accountView(main, a, operator) {
  const acc = a.account || a;
  main.querySelector('h1').textContent = `Account ${acc.id}`;
  const status = acc.findguardStatus;
  main.append(
    h(
      'div',
      { class: 'cards' },
      [
        ['handle', acc.handle ? `@${acc.handle}` : '—'],
        ['findguard status', status || '—'],
        ['app status', acc.appStatus || '—'],
        ['risk', a.risk ? a.risk.level : '—'],
        ['campaign score', a.risk && typeof a.risk.campaignScore === 'number' ? a.risk.campaignScore.toFixed(2) : '—'],
        ['created', fmtTime(acc.createdAt)],
      ].map(([k, v]) => h('div', { class: 'card' }, h('div', { class: 'v' }, String(v)), h('div', { class: 'k' }, k))),
    ),
  );
  main.append(
    section(
      'Account',
      facts({
        'phone region': acc.phoneRegion ?? acc.derivedPhoneRegion ?? '—',
        'contact points (counts only)': acc.contactPoints,
        'sign-up': acc.signup,
      }),
    ),
  );
  if (Array.isArray(a.otherMatches) && a.otherMatches.length) {
    main.append(h('p', { class: 'note' }, 'Other accounts with this handle: ', a.otherMatches.map((o) => h('a', { href: `/dashboard/accounts/${encodeURIComponent(o.id)}` }, `${o.id} `))));
  }
  const acts = a.actions || [];
  main.append(
    section(
      'Evidence',
      acts.length === 0
        ? h('p', { class: 'none' }, 'findguard has not acted on this account.')
        : h(
            'div',
            {},
            acts.map((x) =>
              h(
                'details',
                {},
                h('summary', {}, `${fmtTime(x.at)} ${x.action} by ${x.actor}: ${x.reason}`),
                x.evidence && Array.isArray(x.evidence.samples) ? h('ul', {}, x.evidence.samples.map((t) => h('li', {}, String(t)))) : facts(x.evidence || {}),
              ),
            ),
          ),
    ),
  );
  main.append(
    section(
      'Decisions',
      table(a.decisions || [], [
        ['createdAt', 'created', (v) => fmtTime(v)],
        ['scope', 'scope'],
        ['action', 'action'],
        ['reason', 'reason'],
        ['source', 'source'],
        ['expiresAt', 'expires', (v) => (v ? fmtTime(v) : 'until lifted')],
        ['status', 'status', (v) => h('span', { class: `pill ${v}` }, v)],
      ]),
    ),
  );
  main.append(
    section(
      'Campaigns',
      table(a.campaigns || [], [
        ['campaignId', 'campaign', (v) => h('a', { href: `/dashboard/campaigns/${encodeURIComponent(v)}` }, v)],
        ['role', 'role'],
        ['status', 'status'],
        ['detectedAt', 'detected', (v) => fmtTime(v)],
        ['firstExposedAt', 'first exposed', (v) => fmtTime(v)],
      ]),
    ),
  );
  main.append(
    section(
      'Enforcement actions',
      table(acts, [
        ['at', 'at', (v) => fmtTime(v)],
        ['action', 'action'],
        ['actor', 'by'],
        ['reason', 'reason'],
        ['campaignId', 'campaign', (v) => (v ? h('a', { href: `/dashboard/campaigns/${encodeURIComponent(v)}` }, v) : '—')],
        ['expiresAt', 'expires', (v) => (v ? fmtTime(v) : '—')],
        ['reversedBy', 'reversed by', (v) => v || '—'],
      ]),
    ),
  );

  if (operator.role !== 'viewer') {
    const form = h(
      'form',
      { id: 'reinstate' },
      field('Reason (required, recorded in the audit trail)', h('input', { name: 'reason', required: true, minlength: 3, maxlength: 1000, size: 60 })),
      h('button', { type: 'submit', class: 'primary' }, 'Reinstate'),
    );
    main.append(
      section(
        'Reinstate',
        h('p', { class: 'note' }, 'Lifts the suspension and every restriction findguard placed on this account, and records who did it and why.'),
        actionForm(form, async (v) => {
          const r = await api('POST', `/accounts/${encodeURIComponent(acc.id)}/reinstate`, { reason: v.reason });
          form.reset();
          if (!r.reinstated) return 'Nothing to reinstate: findguard had not suspended this account.';
          return `Reinstated (${r.reversed.length} action${r.reversed.length === 1 ? '' : 's'} reversed).`;
        }),
      ),
    );
  }
}

boot(async (main, operator) => {
  main.append(lookupForm());
  const id = main.dataset.id;
  if (!id) return;
  try {
    accountView(main, await api('GET', `/accounts/${encodeURIComponent(id)}`), operator);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) main.append(h('p', { class: 'none' }, 'No such account.'));
    else throw err;
  }
});
