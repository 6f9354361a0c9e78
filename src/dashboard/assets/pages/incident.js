import { actionForm, api, boot, field, fmtTime, h, section, select, table } from '../console.js';
import { countDown } from './incident-clock.js';

const FIELDS = [
  ['nature', 'Nature of the breach (Art. 33(3)(a))'],
  ['categories', 'Categories of data subjects and records (Art. 33(3)(a)); the numbers are generated below'],
  ['consequences', 'Likely consequences (Art. 33(3)(c))'],
  ['measuresTakenNote', 'Measures taken, in words (Art. 33(3)(d)); the recorded decisions are listed below'],
  ['measuresPlanned', 'Measures planned (Art. 33(3)(d))'],
];

boot(async (main, operator) => {
  const id = main.dataset.id;
  const base = `/incidents/${encodeURIComponent(id)}`;
  const canAct = operator.role !== 'viewer';
  const view = await api('GET', base);
  const { incident, clock, phases } = view;
  const current = phases[phases.length - 1];
  const reload = () => location.reload();

  main.querySelector('h1').textContent = `Incident ${incident.id}: ${incident.title}`;
  const left = h('span', { id: 'clock', class: 'clock' });
  main.append(
    h(
      'div',
      { class: 'cards' },
      card('status', h('span', { id: 'incident-status' }, incident.status.replace('_', ' '))),
      card('aware since', fmtTime(incident.awareAt)),
      card('72-hour deadline', h('span', { id: 'deadline' }, fmtTime(clock.deadline))),
      card('time left', left),
      card('owner', incident.owner || '—'),
      card('people notified', incident.notices ?? '—'),
    ),
    h('p', {}, 'Campaigns: ', ...incident.campaignIds.flatMap((c, i) => [i ? ', ' : '', h('a', { href: `/dashboard/campaigns/${encodeURIComponent(c)}` }, c)])),
  );
  countDown(left, clock);

  if (canAct) main.append(actions(base, incident, current, view, reload));
  if (canAct && current.status === 'draft') main.append(editor(base, current, reload));

  main.append(
    section(
      'Report phases and approvals',
      h('p', { class: 'none' }, `Approved once ${view.approvalsNeeded} different operators approve, at least one of whom neither wrote nor submitted the phase. An approved phase is never edited: add a supplement.`),
      table(
        phases,
        [
          ['number', 'phase', (n, p) => (p.kind === 'initial' ? 'first report' : `supplement ${n - 1}`)],
          ['status', 'status'],
          ['createdAt', 'opened', (v) => fmtTime(v)],
          ['submittedAt', 'submitted', (v) => fmtTime(v)],
          ['approvals', 'approvals', (a) => (a.length ? a.map((x) => `${x.operatorName} (${fmtTime(x.at)})`).join(', ') : 'none')],
          ['approvedAt', 'approved', (v) => fmtTime(v)],
        ],
        { rowAttrs: (p) => ({ dataset: { phase: String(p.number) } }) },
      ),
    ),
  );

  const report = await api('GET', `${base}/report`);
  main.append(facts(report, current.number), exports(base, report));
  if (canAct) main.append(details(base, incident, reload));
});

function card(label, value) {
  return h('div', { class: 'card' }, h('div', { class: 'v' }, value), h('div', { class: 'k' }, label));
}

function button(label, onclick, cls) {
  return h('button', { type: 'button', class: cls, onclick: async (e) => {
    e.target.disabled = true;
    try {
      await onclick();
    } catch (err) {
      e.target.disabled = false;
      const out = document.getElementById('action-result');
      out.className = 'result error';
      out.textContent = `${err.code || 'error'}: ${err.message}`;
    }
  } }, label);
}

function actions(base, incident, phase, view, reload) {
  const out = h('p', { class: 'result', id: 'action-result', role: 'status' });
  const row = h('div', { class: 'actions', id: 'incident-actions' });
  const phaseName = phase.kind === 'initial' ? 'the first report' : `supplement ${phase.number - 1}`;
  if (incident.status !== 'closed') {
    if (phase.status === 'draft') row.append(button(`Submit ${phaseName} for review`, async () => (await api('POST', `${base}/submit`), reload()), 'primary'));
    if (phase.status === 'in_review') {
      row.append(button(`Approve ${phaseName}`, async () => (await api('POST', `${base}/approve`), reload()), 'primary'));
      row.append(button('Send back to draft', async () => {
        const reason = prompt('Why is it sent back?');
        if (reason) await api('POST', `${base}/send-back`, { reason });
        reload();
      }));
    }
    if ((incident.status === 'approved' || incident.status === 'notified') && phase.status === 'approved') {
      row.append(button('Add a supplement', async () => (await api('POST', `${base}/supplements`, {}), reload())));
    }
    if (incident.status === 'approved') {
      row.append(view.notifierConfigured ? button('Notify the exposed people (Art. 34)', async () => (await api('POST', `${base}/notify`), reload()), 'danger') : h('span', { class: 'none' }, 'No notifier configured on this node.'));
    }
    if (incident.status === 'notified' && phase.status === 'approved') {
      row.append(button('Close', async () => {
        const reason = prompt('Why is it closed?');
        if (reason) await api('POST', `${base}/close`, { reason });
        reload();
      }));
    }
  }
  return section('Actions', row, out);
}

function editor(base, phase, reload) {
  const f = phase.fields;
  const area = (name, label, value) => field(label, h('textarea', { name, rows: 4, cols: 90, maxlength: 20000 }, value || ''));
  const form = h(
    'form',
    { id: 'report-editor', class: 'stack wide' },
    phase.kind === 'supplement' ? area('supplement', 'What this supplement adds or corrects (Art. 33(4))', f.supplement) : null,
    ...FIELDS.map(([k, label]) => area(k, label, f[k])),
    field('Art. 34: must the people be told?', select('art34Applies', [['', 'not judged yet'], ['yes', 'yes'], ['no', 'no']], f.art34.applies === null ? '' : f.art34.applies ? 'yes' : 'no')),
    area('art34Reason', 'Why (Art. 34)', f.art34.reason),
    h('button', { type: 'submit', class: 'primary' }, 'Save draft'),
  );
  return section(
    `Report editor: ${phase.kind === 'initial' ? 'first report' : `supplement ${phase.number - 1}`} (draft)`,
    actionForm(form, async () => {
      const data = new FormData(form);
      const body = {};
      for (const [k] of FIELDS) body[k] = String(data.get(k) ?? '');
      if (phase.kind === 'supplement') body.supplement = String(data.get('supplement') ?? '');
      const applies = data.get('art34Applies');
      body.art34 = { applies: applies === 'yes' ? true : applies === 'no' ? false : null, reason: String(data.get('art34Reason') ?? '') };
      await api('PUT', `${base}/phases/${phase.number}`, body);
      setTimeout(reload, 300);
      return 'Saved.';
    }),
  );
}

function facts(report, number) {
  const phase = report.phases.find((p) => p.number === number) || report.phases[0];
  const f = phase.facts;
  return section(
    `Facts from the records (${phase.factsAsOf === 'approved' ? 'as approved' : 'as of now'})`,
    h('p', {}, `Calls from ${fmtTime(f.window.firstSeen)} to ${fmtTime(f.window.lastSeen)}; exposures from ${fmtTime(f.window.firstExposure)} to ${fmtTime(f.window.lastExposure)}.`),
    h('p', { id: 'subjects-total' }, `${f.subjects.total} data subjects, ${f.records.total} records (an account revealed to one attacker account is one record).`),
    table(
      f.subjects.byCountry.map((s) => ({ ...s, records: (f.records.byCountry.find((r) => r.country === s.country) || {}).records || 0 })),
      [['country', "country of the account's phone"], ['accounts', 'data subjects'], ['records', 'records']],
    ),
    h('p', {}, `Data revealed for each: ${f.dataRevealed.join('; ')}.`),
    h('h3', {}, 'Attacker accounts'),
    table(f.attackers, [
      ['accountId', 'account', (v) => h('a', { href: `/dashboard/accounts/${encodeURIComponent(v)}` }, v)],
      ['revealed', 'accounts revealed'],
      ['countries', 'origin countries', (v) => v.map((c) => `${c.country ?? '?'} (${c.lookups})`).join(', ') || '—'],
      ['asns', 'origin ASNs', (v) => v.map((a) => `${a.asn === null ? '?' : `AS${a.asn}`} (${a.lookups})`).join(', ') || '—'],
      ['stoppedAt', 'stopped', (v) => (v ? fmtTime(v) : 'not suspended')],
    ], { empty: 'No attacker accounts.' }),
    h('h3', {}, 'Measures taken (recorded decisions)'),
    table(f.measuresTaken, [
      ['decisionId', 'decision'],
      ['at', 'time', (v) => fmtTime(v)],
      ['action', 'action', (v, m) => (m.shadow ? `would ${v}` : v)],
      ['scope', 'scope'],
      ['subject', 'subject'],
      ['actor', 'by'],
      ['reason', 'reason'],
      ['liftedAt', 'lifted', (v) => (v ? fmtTime(v) : '—')],
    ], { empty: 'No decisions recorded.' }),
    h('p', {}, `DPO contact: ${report.controller.dpoContact || 'not configured (FINDGUARD_DPO_CONTACT)'}`),
  );
}

function exports(base, report) {
  const link = (path, label) => h('a', { href: `/admin/v1${base}/${path}`, class: 'export', target: '_blank', rel: 'noopener' }, label);
  return section(
    'Exports',
    h('p', {}, link('export.json', 'Signed JSON'), ' · ', link('export.html', 'Printable report'), ' · ', link('exposures.csv', 'Exposures (CSV)'), ' · ', link('evidence', 'Evidence bundle'), ' · ', h('a', { href: '/admin/v1/incidents/signing-key', target: '_blank', rel: 'noopener' }, 'Public key')),
    h('p', { class: 'none' }, `Evidence bundle SHA-256 (canonical JSON, RFC 8785): ${report.evidence.sha256}`),
  );
}

function details(base, incident, reload) {
  const form = h(
    'form',
    { id: 'incident-details' },
    field('Title', h('input', { name: 'title', value: incident.title, maxlength: 200, size: 40 })),
    field('Owner', h('input', { name: 'owner', value: incident.owner || '', maxlength: 64 })),
    field('Notes', h('textarea', { name: 'notes', rows: 3, cols: 60, maxlength: 20000 }, incident.notes)),
    h('button', { type: 'submit' }, 'Save'),
  );
  return section(
    'Details',
    actionForm(form, async (v) => {
      await api('PATCH', base, { title: v.title || incident.title, owner: v.owner || null, notes: v.notes || '' });
      setTimeout(reload, 300);
      return 'Saved.';
    }),
  );
}
