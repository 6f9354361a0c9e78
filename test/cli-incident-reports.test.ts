import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { verifySignedReport, type IncidentActor } from '../src/incidents/index.js';
import { makeEvent } from './helpers/events.js';
import { describeEachDialect } from './helpers/service.js';
import { startCliHarness, type CliHarness } from './helpers/cli.js';

/**
 * `findguard incidents list|show|export|signing-key` (src/cli/incidents.ts) on both databases: an
 * incident opened over a campaign is listed with its 72-hour clock, shown with its phases, and
 * exported as signed JSON (verified with the key `signing-key` prints), HTML and CSV, to a file of
 * mode 0600 or to standard output.
 */

afterEach(() => {
  process.exitCode = undefined;
});

const BY: IncidentActor = { actor: { id: 'cli', name: 'cli', role: 'system', via: 'cli' }, from: null, tool: 'cli' };

describeEachDialect('findguard incidents', (dialect) => {
  let h: CliHarness;
  let incidentId: string;

  beforeAll(async () => {
    h = await startCliHarness(dialect, 'cli-incident-reports', { FINDGUARD_DPO_CONTACT: 'dpo@example.test' });
    incidentId = await h.withCtx(async (ctx) => {
      for (const id of ['atk-1', 'victim-1', 'victim-2']) await ctx.directory.putAccount(id, { handle: id.replace('-', ''), phoneRegion: 'NL' });
      // Shown after they were mirrored (an exposure from before is an erased predecessor's: incident-report.ts).
      const T = Date.now();
      await ctx.eventPipeline.process([makeEvent(1, { accountId: 'atk-1', at: T - 1_000, revealed: ['victim-1', 'victim-2'], matched: 2, blocks: { '+1415555': 2 }, country: 'NL', asn: 64500 })]);
      const { campaignId } = await ctx.incidents.campaigns.openCampaign({ clusterId: 'c-1', accountIds: ['atk-1'], score: 0.9, evidence: { why: 'scan' } });
      return (await ctx.incidents.lifecycle.open({ title: 'Scan of NL numbers', campaignIds: [campaignId], awareAt: T - 2 * 3_600_000 }, BY)).id;
    });
  }, 120_000);
  afterAll(async () => h?.close());

  it('lists and shows the incident with its clock', async () => {
    const list = await h.run('incidents', 'list');
    expect(list.lines[0]).toMatch(/^ID\s+STATUS\s+AWARE\s+CLOCK\s+CAMPAIGNS\s+TITLE$/);
    expect(list.lines[1]).toMatch(new RegExp(`^${incidentId}\\s+draft\\s+\\S+ \\S+\\s+(69|70)h \\d\\dm left\\s+1\\s+Scan of NL numbers$`));
    const show = (await h.run('incidents', 'show', incidentId)).lines.join('\n');
    expect(show).toContain(`incident   ${incidentId}: Scan of NL numbers`);
    expect(show).toContain('phase 1    first report, draft; approvals: none');
    const missing = await h.run('incidents', 'show', 'inc_none');
    expect(missing.errors).toEqual(['no such incident']);
    expect(process.exitCode).toBe(1);
  });

  it('exports signed JSON that the printed key verifies, HTML and CSV; a file gets mode 0600', async () => {
    const out = join(h.dataDir, 'report.json');
    const exported = await h.run('incidents', 'export', incidentId, '--format', 'json', '--out', 'report.json');
    expect(exported.errors).toEqual([`wrote ${out}`]);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const signed = JSON.parse(readFileSync(out, 'utf8'));
    const key = JSON.parse((await h.run('incidents', 'signing-key', '--json')).lines.join('\n'));
    expect(verifySignedReport(signed, key.jwk)).toBe(true);
    expect(verifySignedReport(signed, (await h.run('incidents', 'signing-key')).lines.join('\n'))).toBe(true);
    signed.report.phases[0].facts.subjects.total = 99;
    expect(verifySignedReport(signed, key.jwk)).toBe(false);
    expect(JSON.parse(readFileSync(out, 'utf8')).report).toMatchObject({ controller: { dpoContact: 'dpo@example.test' }, phases: [{ facts: { subjects: { total: 2, byCountry: [{ country: 'NL', accounts: 2 }] } } }] });

    const html = (await h.run('incidents', 'export', incidentId, '--format', 'html')).lines.join('\n');
    expect(html).toContain('notification to the supervisory authority');
    const csv = (await h.run('incidents', 'export', incidentId, '--format', 'csv')).lines.join('\n').split('\r\n');
    expect(csv[0]).toBe('account_id,handle,phone_country,first_exposed_at,last_exposed_at,attacker_accounts,campaign_ids');
    expect(csv.filter((l) => l.startsWith('victim-'))).toHaveLength(2);
    for (const text of [readFileSync(out, 'utf8'), html, csv.join('\n')]) expect(text).not.toContain('+1415555');
    const bad = await h.run('incidents', 'export', incidentId, '--format', 'pdf').catch((e: Error) => e);
    expect(String(bad)).toMatch(/json, html, csv/);
  });
});
