import { createHash } from 'node:crypto';
import type { ReportDocument, ReportPhase } from './report-document.js';

/**
 * The regulator's report as a printable page: one section per Art. 33(3) point, per phase. No
 * script; the one style sheet is allowed by its hash (REPORT_HTML_CSP), so the page needs nothing
 * inline beyond it. Every value is escaped.
 */

const STYLE = `body{font:11pt/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#111}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #999;margin-top:2rem}h3{font-size:1rem;margin-bottom:.25rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;padding:.2rem .5rem;text-align:left;vertical-align:top}
.muted{color:#555}.pre{white-space:pre-wrap}@media print{body{margin:0}h2{break-before:page}}`;

export const REPORT_HTML_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

export function reportHtml(doc: ReportDocument): string {
  const i = doc.incident;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Incident ${esc(i.id)}: report to the supervisory authority</title><style>${STYLE}</style></head>
<body>
<h1>Personal data breach: notification to the supervisory authority (GDPR Art. 33)</h1>
<p class="muted">Incident ${esc(i.id)} · ${esc(i.title)} · status ${esc(i.status)} · generated ${esc(doc.generatedAt)} by findguard</p>
<table>
<tr><th>Became aware</th><td>${esc(doc.clock.awareAt)}</td></tr>
<tr><th>72-hour deadline</th><td>${esc(doc.clock.deadline)}${doc.clock.stopped ? ' (first report approved)' : doc.clock.overdue ? ' (passed)' : ''}</td></tr>
<tr><th>Campaigns</th><td>${i.campaignIds.map(esc).join(', ')}</td></tr>
<tr><th>Owner</th><td>${esc(i.owner ?? '—')}</td></tr>
<tr><th>Data protection officer (Art. 33(3)(b))</th><td class="pre">${esc(doc.controller.dpoContact ?? 'not configured (FINDGUARD_DPO_CONTACT)')}</td></tr>
<tr><th>Evidence bundle SHA-256</th><td><code>${esc(doc.evidence.sha256)}</code> (${doc.evidence.exposures} exposures, ${doc.evidence.decisions} decisions)</td></tr>
</table>
${doc.phases.map(phaseHtml).join('\n')}
</body></html>
`;
}

function phaseHtml(p: ReportPhase): string {
  const f = p.facts;
  const title = p.kind === 'initial' ? 'First report' : `Supplement ${p.number - 1} (Art. 33(4))`;
  const approvals = p.approvals.length === 0 ? 'none' : p.approvals.map((a) => `${esc(a.operator)} at ${esc(a.at)}`).join('; ');
  return `<h2>${title} — ${esc(p.status)}</h2>
<p class="muted">Approvals: ${approvals}. Facts ${p.factsAsOf === 'approved' ? 'as approved' : 'as of this export'}.</p>
${p.kind === 'supplement' ? `<h3>What this supplement adds</h3><p class="pre">${esc(p.fields.supplement)}</p>` : ''}
<h3>(a) Nature of the breach</h3><p class="pre">${esc(p.fields.nature)}</p>
<p>Window: calls from ${esc(f.window.firstSeen ?? '—')} to ${esc(f.window.lastSeen ?? '—')}; exposures from ${esc(f.window.firstExposure ?? '—')} to ${esc(f.window.lastExposure ?? '—')}.</p>
<h3>(a) Categories and approximate numbers of data subjects and of records</h3><p class="pre">${esc(p.fields.categories)}</p>
<table><tr><th>Country of the account's phone</th><th>Data subjects</th><th>Records</th></tr>
${f.subjects.byCountry.map((s) => `<tr><td>${esc(s.country)}</td><td>${s.accounts}</td><td>${f.records.byCountry.find((r) => r.country === s.country)?.records ?? 0}</td></tr>`).join('')}
<tr><th>Total</th><th>${f.subjects.total}</th><th>${f.records.total}</th></tr></table>
<p>Data revealed for each: ${f.dataRevealed.map(esc).join('; ')}.</p>
<h3>Attacker accounts</h3>
<table><tr><th>Account</th><th>Campaign</th><th>Accounts revealed</th><th>Origin countries</th><th>Origin ASNs</th><th>Stopped</th></tr>
${f.attackers.map((a) => `<tr><td>${esc(a.accountId)}</td><td>${esc(a.campaignId)}</td><td>${a.revealed}</td><td>${a.countries.map((c) => `${esc(c.country ?? '?')} (${c.lookups})`).join(', ')}</td><td>${a.asns.map((x) => `${x.asn === null ? '?' : `AS${x.asn}`} (${x.lookups})`).join(', ')}</td><td>${esc(a.stoppedAt ?? 'not suspended')}</td></tr>`).join('')}
</table>
<h3>(c) Likely consequences</h3><p class="pre">${esc(p.fields.consequences)}</p>
<h3>(d) Measures taken</h3><p class="pre">${esc(p.fields.measuresTakenNote)}</p>
<table><tr><th>Decision</th><th>Time</th><th>Action</th><th>Scope</th><th>Subject</th><th>By</th><th>Reason</th><th>Lifted</th></tr>
${f.measuresTaken.map((m) => `<tr><td>${esc(m.decisionId)}</td><td>${esc(m.at)}</td><td>${esc(m.shadow ? `would ${m.action}` : m.action)}</td><td>${esc(m.scope)}</td><td>${esc(m.subject)}</td><td>${esc(m.actor)}</td><td>${esc(m.reason)}</td><td>${esc(m.liftedAt ?? '')}</td></tr>`).join('')}
</table>
<h3>(d) Measures planned</h3><p class="pre">${esc(p.fields.measuresPlanned)}</p>
<h3>Art. 34: communication to the data subjects</h3>
<p>${p.fields.art34.applies === null ? 'Not yet judged.' : p.fields.art34.applies ? 'Applies.' : 'Does not apply.'}</p><p class="pre">${esc(p.fields.art34.reason)}</p>
<p class="muted">Evidence bundle SHA-256 for these facts: <code>${esc(f.evidenceSha256)}</code></p>`;
}

function esc(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
