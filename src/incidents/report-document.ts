import type { EvidenceBundle, ReportFacts } from './incident-report.js';
import type { IncidentClock, IncidentRecord, PhaseFields } from './incident-records.js';

/** The regulator's report of an incident as exported (incident-export.ts builds it, report-html.ts prints it). */

export interface ReportPhase {
  number: number;
  kind: 'initial' | 'supplement';
  status: 'draft' | 'in_review' | 'approved';
  createdAt: string;
  submittedAt: string | null;
  approvedAt: string | null;
  approvals: Array<{ operator: string; at: string }>;
  fields: PhaseFields;
  /** 'approved': frozen at approval; 'current': computed at this export. */
  factsAsOf: 'approved' | 'current';
  facts: ReportFacts;
}

export interface ReportDocument {
  format: 'findguard.incident-report/1';
  generatedAt: string;
  incident: {
    id: string;
    title: string;
    status: IncidentRecord['status'];
    owner: string | null;
    openedBy: string;
    source: 'operator' | 'engine';
    campaignIds: string[];
    notifiedAt: string | null;
    notices: number | null;
    closedAt: string | null;
  };
  /** Art. 33(1): the 72 hours from awareness. */
  clock: IncidentClock;
  /** Art. 33(3)(b). */
  controller: { dpoContact: string | null };
  phases: ReportPhase[];
  /** The evidence bundle as of this export: GET …/evidence returns it; its canonical JSON hashes to sha256. */
  evidence: { format: EvidenceBundle['format']; sha256: string; exposures: number; decisions: number };
}

