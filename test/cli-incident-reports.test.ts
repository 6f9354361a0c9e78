import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { loadSettings, type CliIo } from '../src/cli/io.js';
import { createProgram } from '../src/cli/program.js';
import { createCliContext, type CliContext } from '../src/context.js';
import { verifySignedReport, type IncidentActor } from '../src/incidents/index.js';
import { makeEvent } from './helpers/events.js';
import { createTestDatabase } from './helpers/postgres.js';
import { describeEachDialect, HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './helpers/service.js';

/**
 * `findguard incidents list|show|export|signing-key` (src/cli/incidents.ts) on both databases: an
 * incident opened over a campaign is listed with its 72-hour clock, shown with its phases, and
 * exported as signed JSON (verified with the key `signing-key` prints), HTML and CSV, to a file of
 * mode 0600 or to standard output.
 */

interface TestIo extends CliIo {
  lines: string[];
  errors: string[];
}

afterEach(() => {
  process.exitCode = undefined;
});

const BY: IncidentActor = { actor: { id: 'cli', name: 'cli', role: 'system', via: 'cli' }, from: null, tool: 'cli' };

describeEachDialect('findguard incidents', (dialect) => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let drop: (() => Promise<void>) | undefined;
  let incidentId: string;
  const T = Date.now();

  function testIo(): TestIo {
    const lines: string[] = [];
    const errors: string[] = [];
    return { env: { ...env }, cwd: dataDir, out: (l) => lines.push(l), err: (l) => errors.push(l), interactive: false, lines, errors };
  }

  async function run(...args: string[]): Promise<TestIo> {
    const io = testIo();
    await createProgram(io).parseAsync(args, { from: 'user' });
    return io;
  }

  async function withCtx<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
    const { config, secrets } = loadSettings(testIo());
    const ctx = await createCliContext(config, secrets);
    try {
      return await fn(ctx);
    } finally {
      await ctx.close();
    }
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'findguard-cli-incident-reports-'));
    env = { FINDGUARD_DATA_DIR: dataDir, FINDGUARD_LOG_LEVEL: 'warn', FINDGUARD_DPO_CONTACT: 'dpo@example.test' };
    if (dialect === 'postgres') {
      const pg = await createTestDatabase();
      drop = pg.drop;
      env = { ...env, FINDGUARD_DATABASE_URL: pg.url, FINDGUARD_HASH_KEYS: HASH_KEYS, FINDGUARD_SERVICE_KEY: SERVICE_KEY, FINDGUARD_JWT_SECRET: JWT_SECRET };
    }
    await run('migrate');
    incidentId = await withCtx(async (ctx) => {
      for (const id of ['atk-1', 'victim-1', 'victim-2']) await ctx.directory.putAccount(id, { handle: id.replace('-', ''), phoneRegion: 'NL' });
      await ctx.eventPipeline.process([makeEvent(1, { accountId: 'atk-1', at: T - 60_000, revealed: ['victim-1', 'victim-2'], matched: 2, blocks: { '+1415555': 2 }, country: 'NL', asn: 64500 })]);
      const { campaignId } = await ctx.incidents.campaigns.openCampaign({ clusterId: 'c-1', accountIds: ['atk-1'], score: 0.9, evidence: { why: 'scan' } });
      return (await ctx.incidents.lifecycle.open({ title: 'Scan of NL numbers', campaignIds: [campaignId], awareAt: T - 2 * 3_600_000 }, BY)).id;
    });
  }, 120_000);
  afterAll(async () => {
    await drop?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists and shows the incident with its clock', async () => {
    const list = await run('incidents', 'list');
    expect(list.lines[0]).toMatch(/^ID\s+STATUS\s+AWARE\s+CLOCK\s+CAMPAIGNS\s+TITLE$/);
    expect(list.lines[1]).toMatch(new RegExp(`^${incidentId}\\s+draft\\s+\\S+ \\S+\\s+(69|70)h \\d\\dm left\\s+1\\s+Scan of NL numbers$`));
    const show = (await run('incidents', 'show', incidentId)).lines.join('\n');
    expect(show).toContain(`incident   ${incidentId}: Scan of NL numbers`);
    expect(show).toContain('phase 1    first report, draft; approvals: none');
    const missing = await run('incidents', 'show', 'inc_none');
    expect(missing.errors).toEqual(['no such incident']);
    expect(process.exitCode).toBe(1);
  });

  it('exports signed JSON that the printed key verifies, HTML and CSV; a file gets mode 0600', async () => {
    const out = join(dataDir, 'report.json');
    const exported = await run('incidents', 'export', incidentId, '--format', 'json', '--out', 'report.json');
    expect(exported.errors).toEqual([`wrote ${out}`]);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const signed = JSON.parse(readFileSync(out, 'utf8'));
    const key = JSON.parse((await run('incidents', 'signing-key', '--json')).lines.join('\n'));
    expect(verifySignedReport(signed, key.jwk)).toBe(true);
    expect(verifySignedReport(signed, (await run('incidents', 'signing-key')).lines.join('\n'))).toBe(true);
    signed.report.phases[0].facts.subjects.total = 99;
    expect(verifySignedReport(signed, key.jwk)).toBe(false);
    expect(JSON.parse(readFileSync(out, 'utf8')).report).toMatchObject({ controller: { dpoContact: 'dpo@example.test' }, phases: [{ facts: { subjects: { total: 2, byCountry: [{ country: 'NL', accounts: 2 }] } } }] });

    const html = (await run('incidents', 'export', incidentId, '--format', 'html')).lines.join('\n');
    expect(html).toContain('notification to the supervisory authority');
    const csv = (await run('incidents', 'export', incidentId, '--format', 'csv')).lines.join('\n').split('\r\n');
    expect(csv[0]).toBe('account_id,handle,phone_country,first_exposed_at,last_exposed_at,attacker_accounts,campaign_ids');
    expect(csv.filter((l) => l.startsWith('victim-'))).toHaveLength(2);
    for (const text of [readFileSync(out, 'utf8'), html, csv.join('\n')]) expect(text).not.toContain('+1415555');
    const bad = await run('incidents', 'export', incidentId, '--format', 'pdf').catch((e: Error) => e);
    expect(String(bad)).toMatch(/json, html, csv/);
  });
});
