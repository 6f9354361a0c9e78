import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createProgram } from '../src/cli/program.js';
import { auditFor, listOutbox, type CampaignReport } from '../src/incidents/index.js';
import { makeEvent } from './helpers/events.js';
import { describeEachDialect } from './helpers/service.js';
import { startCliHarness, type CliHarness } from './helpers/cli.js';

afterEach(() => {
  // Commands set process.exitCode on failure; never leak it into the test run.
  process.exitCode = undefined;
});

describeEachDialect('findguard campaigns / accounts', (dialect) => {
  let h: CliHarness;
  let campaignId: string;
  const T = Date.now();

  beforeAll(async () => {
    h = await startCliHarness(dialect, 'cli-incidents');
  });
  afterAll(async () => h?.close());

  it('campaigns list says so when there are none', async () => {
    expect((await h.run('campaigns', 'list')).lines).toEqual(['no campaigns']);
  });

  it('lists and shows a campaign', async () => {
    campaignId = await h.withCtx(async (ctx) => {
      for (const id of ['atk-1', 'atk-2', 'victim-1']) await ctx.directory.putAccount(id, { handle: id.replace('-', '') });
      // Mirrored an hour before the answers below (the clock is the system's): an answer from before
      // an account's mirroring is its predecessor's (incidents/exposure-rule.ts MIRRORED_SKEW_MS).
      await ctx.db.kysely.updateTable('accounts').set({ mirrored_at: T - 3_600_000 }).execute();
      await ctx.eventPipeline.process([
        makeEvent(1, { accountId: 'atk-1', at: T - 60_000, revealed: ['victim-1', 'victim-2'], matched: 2, blocks: { '+1415555': 2 }, country: 'NL', asn: 64500 }),
        makeEvent(2, { accountId: 'atk-2', at: T - 30_000, revealed: ['victim-1'], matched: 1, blocks: { '+1415556': 1 }, country: 'DE', asn: 64501 }),
      ]);
      const r = await ctx.incidents.campaigns.openCampaign({ clusterId: 'c-1', accountIds: ['atk-1', 'atk-2'], score: 0.9, evidence: { why: 'range scan' } });
      await ctx.incidents.enforcer.suspend(['atk-1', 'atk-2'], { actor: 'engine', reason: 'enumeration campaign', evidence: { hitRate: 0.002 }, clusterId: 'c-1', campaignId: r.campaignId });
      return r.campaignId;
    });

    const list = await h.run('campaigns', 'list');
    expect(list.lines[0]).toMatch(/^ID\s+DETECTED\s+ACCOUNTS\s+EXPOSED\s+COUNTRIES\s+STATUS$/);
    expect(list.lines[1]).toMatch(new RegExp(`^${campaignId}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+2\\s+2\\s+DE,NL\\s+open$`));
    expect(list.lines).toHaveLength(2);

    const show = await h.run('campaigns', 'show', campaignId);
    const text = show.lines.join('\n');
    expect(text).toContain(`campaign   ${campaignId} (open, score 0.9)`);
    expect(text).toContain('countries  DE 1, NL 1');
    expect(text).toContain('blocks     2 probed, 3 numbers: ');
    expect(text).toContain('  atk-1  suspended, revealed 2');
    expect(text).toContain('exposed    2 accounts (3 attacker/account pairs)');
    expect(text).toMatch(/ {2}victim-1 {2}first \S+ \S+, by 2 attacker accounts/);

    const json = JSON.parse((await h.run('campaigns', 'show', campaignId, '--json')).lines.join('\n')) as CampaignReport;
    expect(json.exposures.accounts.map((a) => [a.accountId, a.attackerAccounts, a.firstExposedAt])).toEqual([
      ['victim-1', 2, new Date(T - 60_000).toISOString()],
      ['victim-2', 1, new Date(T - 60_000).toISOString()],
    ]);
    expect(json.evidence).toEqual({ why: 'range scan' });
  });

  it('reports an unknown campaign on stderr with exit code 1', async () => {
    const io = await h.run('campaigns', 'show', 'cmp_unknown');
    expect(io.errors).toEqual(['no such campaign']);
    expect(process.exitCode).toBe(1);
  });

  it('shows an account: statuses, risk, actions with evidence, campaigns', async () => {
    const text = (await h.run('accounts', 'show', 'atk-1')).lines.join('\n');
    expect(text).toContain('account    atk-1 (atk1)');
    expect(text).toContain('status     suspended (app: active, findguard: suspended)');
    expect(text).toContain('risk       not assessed');
    expect(text).toMatch(/suspend by engine: enumeration campaign {2}\[act_\S+\]/);
    expect(text).toContain(`cluster c-1, campaign ${campaignId}`);
    expect(text).toContain('evidence {"hitRate":0.002}');
    expect(text).toMatch(new RegExp(`${campaignId} {2}attacker \\(open, detected `));

    const victim = (await h.run('accounts', 'show', 'victim-1')).lines.join('\n');
    expect(victim).toContain('actions    none');
    expect(victim).toMatch(new RegExp(`${campaignId} {2}exposed \\(open, detected .*, first exposed `));
  });

  it('reinstates through the enforcer: status, audit log and webhook', async () => {
    const io = await h.run('accounts', 'reinstate', 'atk-1', '--reason', 'false positive', '--operator', 'alice');
    expect(io.lines[0]).toMatch(/^reinstated atk-1 by alice \[act_\S+\]; lifted 1 action; account\.reinstated queued$/);
    expect((await h.run('accounts', 'show', 'atk-1')).lines).toContain('status     active (app: active, findguard: active)');
    await h.withCtx(async (ctx) => {
      const audit = await auditFor(ctx.db.kysely, 'account:atk-1');
      expect(audit).toMatchObject([{ actor: { name: 'alice', role: 'system', via: 'cli' }, tool: 'cli', action: 'account.reinstate', reason: 'false positive', details: { reason: 'false positive' } }]);
      const [hook] = await listOutbox(ctx.db.kysely, { type: 'account.reinstated' });
      expect(JSON.parse(hook!.payload)).toMatchObject({ data: { accountId: 'atk-1', actor: 'alice', reason: 'false positive' } });
    });

    expect((await h.run('accounts', 'reinstate', 'atk-1', '--reason', 'again', '--operator', 'alice')).lines).toEqual(['atk-1 is not suspended by findguard: nothing to do']);
  });

  it('takes the operator from the login name, and refuses what it cannot act on', async () => {
    const io = h.testIo({ USER: 'bob' });
    await createProgram(io).parseAsync(['accounts', 'reinstate', 'atk-2', '--reason', 'appeal'], { from: 'user' });
    expect(io.lines[0]).toMatch(/^reinstated atk-2 by bob /);

    const ghost = await h.run('accounts', 'reinstate', 'ghost', '--reason', 'x', '--operator', 'alice');
    expect(ghost.errors).toEqual(['no such account']);
    expect(process.exitCode).toBe(1);
    process.exitCode = undefined;

    await expect(h.run('accounts', 'reinstate', 'atk-2', '--operator', 'alice')).rejects.toMatchObject({ code: 'commander.missingMandatoryOptionValue' });
    await expect(h.run('accounts', 'reinstate', 'atk-2', '--reason', 'x', '--operator', 'engine')).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    const noUser = h.testIo({ USER: '', LOGNAME: '' });
    await createProgram(noUser).parseAsync(['accounts', 'reinstate', 'atk-2', '--reason', 'x'], { from: 'user' });
    expect(noUser.errors[0]).toMatch(/--operator NAME is required/);
  });
});
