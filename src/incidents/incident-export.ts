import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { iso, type JsonValue } from './common.js';
import { evidenceBundle, exposureRows, reportFacts, type EvidenceBundle } from './incident-report.js';
import { incidentClock, readIncident, readPhases, type IncidentRecord } from './incident-records.js';
import type { ReportDocument } from './report-document.js';
import { reportHtml } from './report-html.js';
import type { ReportSigner, SignedReport } from './report-signing.js';

/**
 * The regulator's report of an incident as exported: JSON signed by findguard (with the SHA-256 of
 * its evidence bundle), a printable HTML page, and a CSV of the exposures. An approved phase shows
 * the facts it was approved with; a phase not yet approved shows them as of the export.
 */

export interface ReportExportDeps {
  db: Kysely<Database>;
  clock: Clock;
  signer: ReportSigner;
  /** FINDGUARD_DPO_CONTACT. */
  dpoContact: string | null;
}

const CSV_HEADER = 'account_id,handle,phone_country,first_exposed_at,last_exposed_at,attacker_accounts,campaign_ids\r\n';

export class IncidentReports {
  constructor(private readonly deps: ReportExportDeps) {}

  get publishedKey() {
    return this.deps.signer.published;
  }

  async evidence(id: string): Promise<EvidenceBundle> {
    const incident = await this.incident(id);
    return evidenceBundle(this.deps.db, id, incident.campaignIds);
  }

  async document(id: string): Promise<ReportDocument> {
    const incident = await this.incident(id);
    const now = this.deps.clock.now();
    const bundle = await evidenceBundle(this.deps.db, id, incident.campaignIds);
    const current = await reportFacts(this.deps.db, bundle);
    const phases = await readPhases(this.deps.db, id);
    const firstApproved = phases[0]?.status === 'approved';
    return {
      format: 'findguard.incident-report/1',
      generatedAt: iso(now),
      incident: {
        id: incident.id,
        title: incident.title,
        status: incident.status,
        owner: incident.owner,
        openedBy: incident.openedBy,
        source: incident.source,
        campaignIds: incident.campaignIds,
        notifiedAt: incident.notifiedAt === null ? null : iso(incident.notifiedAt),
        notices: incident.notices,
        closedAt: incident.closedAt === null ? null : iso(incident.closedAt),
      },
      clock: incidentClock(incident.awareAt, now, firstApproved),
      controller: { dpoContact: this.deps.dpoContact },
      phases: phases.map((p) => {
        const frozen = p.status === 'approved' && p.facts ? p.facts : undefined;
        return {
          number: p.number,
          kind: p.kind,
          status: p.status,
          createdAt: iso(p.createdAt),
          submittedAt: p.submittedAt === null ? null : iso(p.submittedAt),
          approvedAt: p.approvedAt === null ? null : iso(p.approvedAt),
          approvals: p.approvals.map((a) => ({ operator: a.operatorName, at: iso(a.at) })),
          fields: p.fields,
          factsAsOf: frozen ? ('approved' as const) : ('current' as const),
          facts: frozen ?? current,
        };
      }),
      evidence: { format: bundle.format, sha256: current.evidenceSha256, exposures: bundle.exposures.length, decisions: bundle.decisions.length },
    };
  }

  async signed(id: string): Promise<SignedReport> {
    return this.deps.signer.sign((await this.document(id)) as unknown as JsonValue);
  }

  async html(id: string): Promise<string> {
    return reportHtml(await this.document(id));
  }

  /** One row per exposed account: ids, handle and the phone's country as stored; never a number. */
  async csv(id: string): Promise<string> {
    const incident = await this.incident(id);
    const rows = await exposureRows(this.deps.db, await evidenceBundle(this.deps.db, id, incident.campaignIds));
    return (
      CSV_HEADER +
      rows
        .map((r) => [r.accountId, r.handle ?? '', r.country, r.firstExposedAt, r.lastExposedAt, String(r.attackerAccounts), r.campaignIds.join(' ')].map(csv).join(',') + '\r\n')
        .join('')
    );
  }

  private async incident(id: string): Promise<IncidentRecord> {
    const incident = await readIncident(this.deps.db, id);
    if (!incident) throw new AppError('not_found', 'no such incident');
    return incident;
  }
}

/** RFC 4180 quoting, and a leading formula character neutralised (a handle must not run in a spreadsheet). */
function csv(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
