import { describe, expect, it } from 'vitest';
import { compilePolicy, DEFAULT_POLICY, PolicyError } from '../policy/index.js';
import { incidentClock, INCIDENT_TRANSITIONS, isLegalTransition, NOTIFICATION_DEADLINE_MS, type IncidentStatus } from './incident-records.js';
import { evidenceHash, type EvidenceBundle } from './incident-report.js';
import { ReportSigner, verifySignedReport } from './report-signing.js';

const HOUR = 3_600_000;
const T = Date.parse('2026-12-01T09:00:00Z');

describe('the 72-hour clock', () => {
  it('runs from awareness to 72 hours later, then is overdue; approval stops it', () => {
    expect(NOTIFICATION_DEADLINE_MS).toBe(72 * HOUR);
    expect(incidentClock(T, T, false)).toEqual({ awareAt: '2026-12-01T09:00:00.000Z', deadline: '2026-12-04T09:00:00.000Z', remainingMs: 72 * HOUR, stopped: false, overdue: false });
    expect(incidentClock(T, T + 48 * HOUR, false)).toMatchObject({ remainingMs: 24 * HOUR, overdue: false });
    expect(incidentClock(T, T + 72 * HOUR, false)).toMatchObject({ remainingMs: 0, overdue: false });
    expect(incidentClock(T, T + 73 * HOUR, false)).toMatchObject({ remainingMs: -HOUR, overdue: true });
    expect(incidentClock(T, T + 73 * HOUR, true)).toMatchObject({ remainingMs: -HOUR, overdue: false, stopped: true });
  });
});

describe('transitions', () => {
  it('only the lifecycle order, and back from review to draft; closed is final', () => {
    const all: IncidentStatus[] = ['draft', 'in_review', 'approved', 'notified', 'closed'];
    const legal = all.flatMap((from) => all.filter((to) => isLegalTransition(from, to)).map((to) => `${from}->${to}`));
    expect(legal).toEqual(['draft->in_review', 'in_review->draft', 'in_review->approved', 'approved->notified', 'notified->closed']);
    expect(INCIDENT_TRANSITIONS.closed).toEqual([]);
  });
});

describe('the policy threshold', () => {
  it('is validated with the policy', () => {
    expect(compilePolicy({ ...DEFAULT_POLICY, incidents: { openAtExposedAccounts: 500 } }).source.incidents).toEqual({ openAtExposedAccounts: 500 });
    expect(() => compilePolicy({ ...DEFAULT_POLICY, incidents: { openAtExposedAccounts: 0 } })).toThrow(PolicyError);
    expect(() => compilePolicy({ ...DEFAULT_POLICY, incidents: { openAt: 5 } })).toThrow(PolicyError);
  });
});

describe('signed reports', () => {
  const signer = new ReportSigner(Buffer.alloc(32, 1));
  const report = { format: 'x', subjects: { total: 3 }, note: 'ünïcode', list: [1, 2, 3] };

  it('verify with the published key whatever the key order, and fail once changed or under another key', () => {
    const signed = signer.sign(report);
    expect(verifySignedReport(signed, signer.published.jwk)).toBe(true);
    expect(verifySignedReport(signed, signer.published.pem)).toBe(true);
    // Canonical JSON: a re-serialisation with other key order verifies all the same.
    expect(verifySignedReport(JSON.parse(JSON.stringify({ signature: signed.signature, report: { list: [1, 2, 3], note: 'ünïcode', subjects: { total: 3 }, format: 'x' } })), signer.published.jwk)).toBe(true);
    expect(verifySignedReport({ ...signed, report: { ...report, subjects: { total: 2 } } }, signer.published.jwk)).toBe(false);
    expect(verifySignedReport({ ...signed, signature: { ...signed.signature, value: signed.signature.value.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) } }, signer.published.jwk)).toBe(false);
    const other = new ReportSigner(Buffer.alloc(32, 2));
    expect(verifySignedReport(signed, other.published.jwk)).toBe(false);
    expect(verifySignedReport(other.sign(report), signer.published.jwk)).toBe(false);
    expect(verifySignedReport(null, signer.published.jwk)).toBe(false);
    expect(verifySignedReport({ report }, signer.published.jwk)).toBe(false);
  });

  it('the same seed gives the same key (every node signs alike)', () => {
    expect(new ReportSigner(Buffer.alloc(32, 1)).published).toEqual(signer.published);
    expect(() => new ReportSigner(Buffer.alloc(31))).toThrow();
  });
});

describe('the evidence hash', () => {
  it('is the SHA-256 of the canonical JSON, so key order does not change it and content does', () => {
    const bundle: EvidenceBundle = { format: 'findguard.incident-evidence/1', incidentId: 'inc_1', campaignIds: ['c'], exposures: [{ campaignId: 'c', attackerAccountId: 'a', revealedAccountId: 'v', at: '2026-12-01T00:00:00.000Z' }], decisions: [] };
    const reordered = JSON.parse(JSON.stringify({ decisions: [], exposures: bundle.exposures, campaignIds: ['c'], incidentId: 'inc_1', format: bundle.format })) as EvidenceBundle;
    expect(evidenceHash(reordered)).toBe(evidenceHash(bundle));
    expect(evidenceHash(bundle)).toMatch(/^[0-9a-f]{64}$/);
    expect(evidenceHash({ ...bundle, exposures: [] })).not.toBe(evidenceHash(bundle));
  });
});
