import { actionForm, api, boot, facts, field, fmtTime, h, section, table } from '../console.js';

// The active policy as tables, and a what-if: a candidate policy (its limits, then its abuse
// engine) replayed over the stored lookup events of a window, showing what it would have refused
// or suspended, the organic-looking accounts it would have touched and the campaign accounts it
// would have caught.

function isoLocal(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function limitsText(limits) {
  return limits.map((l) => `${l.tier}: ${l.burst ?? '—'} then ${l.refill ?? '—'}/${l.per ?? '—'}${l.challengeBelow != null ? ` (challenge below ${l.challengeBelow})` : ''}`).join('; ');
}

function policyTables(p) {
  const out = h('div', { id: 'policy-tables' });
  out.append(h('h3', {}, 'Tiers (first that matches)'), table(p.tiers || [], [['name', 'tier'], ['description', 'description'], ['when', 'when', (v) => (v ? JSON.stringify(v) : 'everyone else')]]));
  out.append(
    h('h3', {}, 'Layers'),
    table(p.layers || [], [
      ['id', 'layer'],
      ['subject', 'per'],
      ['cost', 'counts'],
      ['on', 'on', (v) => (v && v.length ? v.join(', ') : 'every call')],
      ['limits', 'budget by tier', (v) => limitsText(v || [])],
      ['onStoreError', 'store down'],
      ['shadow', 'shadow', (v) => (v ? 'would' : '')],
      ['description', 'description'],
    ]),
  );
  if (p.breaker) out.append(h('h3', {}, 'Breaker'), facts(p.breaker));
  if (p.challenge) out.append(h('h3', {}, 'Challenges'), facts(p.challenge));
  if (p.abuse) out.append(h('h3', {}, `Abuse engine (${p.abuse.mode})`), h('details', {}, h('summary', {}, 'Its settings'), facts(p.abuse.settings)));
  if (p.other && Object.keys(p.other).length) out.append(h('h3', {}, 'Other'), facts(p.other));
  return out;
}

function whatIfResult(r) {
  const pct = (a, b) => (b > 0 ? ` (${((100 * a) / b).toFixed(1)}%)` : '');
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'cards' },
      [
        ['calls it would refuse', r.wouldRefuse, `actually refused: ${r.actual.refused}`],
        ['calls it would challenge', r.wouldChallenge, `actually challenged: ${r.actual.challenged}`],
        ['organic-looking accounts touched', `${r.organicTouched} of ${r.organicAccounts}${pct(r.organicTouched, r.organicAccounts)}`, 'the cost to real users'],
        ['campaign accounts caught', `${r.campaignCaught} of ${r.campaignAccounts}${pct(r.campaignCaught, r.campaignAccounts)}`, 'what it stops'],
      ].map(([k, v, note]) => h('div', { class: 'card' }, h('div', { class: 'v' }, String(v)), h('div', { class: 'k' }, k), h('div', { class: 'k' }, note))),
    ),
    h('p', {}, `${r.policy}: ${r.events} stored lookup events from ${fmtTime(r.from)} to ${fmtTime(r.to)} replayed${r.truncated ? ' (the first ones only: the window holds more)' : ''}; ${r.accountsTouched} accounts touched in all.`),
    h('h3', {}, 'Would refuse, by scope'),
    table(Object.entries(r.wouldRefuseByScope || {}).map(([scope, n]) => ({ scope, calls: n }))),
    r.engine ? engineResult(r.engine) : h('p', { class: 'note' }, 'The abuse engine was not replayed.'),
  );
}

// The candidate's abuse engine over the same events, in an engine of its own that acts on nothing.
function engineResult(e) {
  const pct = (a, b) => (b > 0 ? ` (${((100 * a) / b).toFixed(1)}%)` : '');
  return h(
    'div',
    { id: 'what-if-engine' },
    h('h3', {}, `Abuse engine (${e.mode === 'enforce' ? 'enforced' : 'shadow: would not be enforced'})`),
    h(
      'div',
      { class: 'cards' },
      [
        ['campaign accounts it would suspend', `${e.campaignCaught} of ${e.campaignAccounts}${pct(e.campaignCaught, e.campaignAccounts)}`, `${e.clusters} whole clusters`],
        ['organic-looking accounts it would touch', `${e.organicTouched} of ${e.organicAccounts}${pct(e.organicTouched, e.organicAccounts)}`, `${e.suspend.organic} suspended`],
      ].map(([k, v, note]) => h('div', { class: 'card' }, h('div', { class: 'v' }, String(v)), h('div', { class: 'k' }, k), h('div', { class: 'k' }, note))),
    ),
    table(
      ['suspend', 'challenge', 'throttle'].map((action) => ({ action, ...e[action] })),
      [['action', 'strongest verdict'], ['accounts', 'accounts'], ['campaign', 'in a campaign'], ['organic', 'organic-looking']],
    ),
    h('p', { class: 'note' }, `${e.events} events and ${e.signups} sign-ups replayed${e.truncated ? ' (the first ones only)' : ''}, ${e.evaluations} evaluations (every ${Math.round(e.evaluateEveryMs / 60000)} min of event time); nothing was decided or sent.`),
  );
}

boot(async (main, operator) => {
  const p = await api('GET', '/policy');
  main.append(h('p', {}, `Active policy: `, h('strong', { id: 'policy-name' }, p.name)));
  const tables = section('Active policy', policyTables(p));

  const now = Date.now();
  const form = h(
    'form',
    { id: 'what-if', class: 'whatif' },
    field(
      'Candidate policy (a built-in name, or YAML)',
      h('textarea', { name: 'policy', rows: 8, cols: 80, required: true, spellcheck: 'false' }, p.name),
    ),
    field('From', h('input', { type: 'datetime-local', name: 'from', required: true, value: isoLocal(now - 86_400_000) })),
    field('To', h('input', { type: 'datetime-local', name: 'to', required: true, value: isoLocal(now) })),
    h('button', { type: 'submit', class: 'primary' }, 'Run what-if'),
  );
  const result = h('div', { id: 'what-if-result' });
  main.append(
    section(
      'What if',
      operator.role === 'admin'
        ? actionForm(form, async (v) => {
            result.replaceChildren(h('p', { class: 'status' }, 'Replaying…'));
            const r = await api('POST', '/policy/what-if', {
              policy: v.policy,
              from: new Date(v.from).getTime(),
              to: new Date(v.to).getTime(),
            });
            result.replaceChildren(whatIfResult(r));
            return 'Done.';
          })
        : h('p', { class: 'none' }, 'A what-if needs the admin role.'),
      result,
    ),
  );
  main.append(tables);
});
