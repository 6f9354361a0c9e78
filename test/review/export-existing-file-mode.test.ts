import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeEvent } from '../helpers/events.js';
import type { IncidentActor } from '../../src/incidents/index.js';
import { startCliHarness, type CliHarness } from '../helpers/cli.js';

/**
 * Review: `findguard incidents export ID --out FILE` promises mode 0600 ("it names the exposed
 * accounts"). It writes with writeFileSync(path, text, { mode: 0o600 }), and Node applies `mode`
 * only when it creates the file: exporting over a file that already exists (last week's export,
 * a file touched beforehand, one copied from elsewhere) keeps that file's mode, e.g. 0644, and the
 * list of exposed accounts and handles is left readable by every user of the machine.
 */
const BY: IncidentActor = { actor: { id: 'cli', name: 'cli', role: 'system', via: 'cli' }, from: null, tool: 'cli' };

let h: CliHarness;
let incidentId: string;
const T = Date.now();

beforeAll(async () => {
  h = await startCliHarness('sqlite', 'export-mode');
  incidentId = await h.withCtx(async (ctx) => {
    for (const id of ['em-atk', 'em-victim']) await ctx.directory.putAccount(id, { handle: id.replace('-', ''), phoneRegion: 'NL' });
    await ctx.eventPipeline.process([makeEvent(1, { accountId: 'em-atk', at: T - 60_000, revealed: ['em-victim'], matched: 1, blocks: {} })]);
    const { campaignId } = await ctx.incidents.campaigns.openCampaign({ clusterId: 'em-1', accountIds: ['em-atk'], score: 0.9, evidence: {} });
    return (await ctx.incidents.lifecycle.open({ title: 'Scan', campaignIds: [campaignId] }, BY)).id;
  });
}, 120_000);
afterAll(async () => h?.close());

it('an export written over an existing file leaves it mode 0600', async () => {
  const out = join(h.dataDir, 'exposures.csv');
  writeFileSync(out, 'old\n', { mode: 0o644 });
  expect(statSync(out).mode & 0o777).toBe(0o644);
  await h.run('incidents', 'export', incidentId, '--format', 'csv', '--out', 'exposures.csv');
  expect(readFileSync(out, 'utf8')).toContain('em-victim');
  expect(statSync(out).mode & 0o777).toBe(0o600);
});
