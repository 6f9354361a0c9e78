import { InvalidArgumentError, type Command } from 'commander';
import { createCliContext, type CliContext } from '../context.js';
import { AppError } from '../errors.js';
import type { CampaignReport } from '../incidents/index.js';
import { loadSettings, type CliIo } from './io.js';

/** Read-and-act commands open a CLI context: it never consumes events or delivers webhooks. */
export async function incidentContext(io: CliIo): Promise<CliContext> {
  const { config, secrets } = loadSettings(io);
  return createCliContext(config, secrets);
}

/** Runs a command body, turning not_found into a message and exit code 1 instead of a stack trace. */
export async function withContext(io: CliIo, fn: (ctx: CliContext) => Promise<void>): Promise<void> {
  const ctx = await incidentContext(io);
  try {
    await fn(ctx);
  } catch (err) {
    if (!(err instanceof AppError) || err.status >= 500) throw err;
    io.err(err.message);
    process.exitCode = 1;
  } finally {
    await ctx.close();
  }
}

/** `2026-11-01 12:00:00Z`: a table cell, to the second. */
export function when(ms: number | string): string {
  const d = new Date(ms);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function campaignIdArg(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw new InvalidArgumentError('not a campaign id');
  return value;
}

function limitArg(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 10_000) throw new InvalidArgumentError('a whole number from 1 to 10000');
  return Number(value);
}

function statusArg(value: string): 'open' | 'closed' {
  if (value !== 'open' && value !== 'closed') throw new InvalidArgumentError('open or closed');
  return value;
}

/** How many exposed accounts the human view lists before pointing at --json. */
const EXPOSED_SHOWN = 50;
const BLOCKS_SHOWN = 10;

function describeReport(r: CampaignReport): string[] {
  const lines = [
    `campaign   ${r.id} (${r.status}, score ${r.score})`,
    `cluster    ${r.clusterId}`,
    `detected   ${when(r.detectedAt)}`,
    `window     ${when(r.window.firstSeen)} to ${when(r.window.lastSeen)}`,
    `lookups    ${count(r.lookups.allowed)} allowed, ${count(r.lookups.refused)} refused, ${count(r.lookups.challenged)} challenged; ${count(r.numbersAsked)} numbers asked`,
    `countries  ${r.origins.countries.map((c) => `${c.country ?? 'unknown'} ${count(c.lookups)}`).join(', ') || '-'}`,
    `ASNs       ${r.origins.asns.map((a) => `${a.asn === null ? 'unknown' : `AS${a.asn}`} ${count(a.lookups)}`).join(', ') || '-'}`,
    `blocks     ${count(r.blocks.distinct)} probed, ${count(r.blocks.numbers)} numbers` +
      (r.blocks.list.length > 0 ? `: ${r.blocks.list.slice(0, BLOCKS_SHOWN).map((b) => `${b.block}xxxx ${count(b.numbers)}`).join(', ')}` : '') +
      (r.blocks.distinct > BLOCKS_SHOWN ? ', ...' : ''),
    `accounts   ${r.accounts.length}`,
  ];
  for (const a of r.accounts) lines.push(`  ${a.accountId}  ${a.findguardStatus}, revealed ${count(a.revealed)}`);
  lines.push(`exposed    ${count(r.exposures.count)} accounts (${count(r.exposures.pairs)} attacker/account pairs)`);
  for (const e of r.exposures.accounts.slice(0, EXPOSED_SHOWN)) {
    lines.push(`  ${e.accountId}  first ${when(e.firstExposedAt)}, by ${e.attackerAccounts} attacker account${e.attackerAccounts === 1 ? '' : 's'}`);
  }
  if (r.exposures.count > EXPOSED_SHOWN) lines.push(`  (${count(r.exposures.count - EXPOSED_SHOWN)} more: --json lists all)`);
  return lines;
}

/** `findguard campaigns list|show`: what the abuse engine detected and what each campaign exposed. */
export function campaignsCommand(program: Command, io: CliIo): void {
  const campaigns = program.command('campaigns').description('enumeration campaigns the abuse engine detected, and their disclosure reports');
  campaigns
    .command('list')
    .description('campaigns, newest first')
    .option('--limit <n>', 'at most this many', limitArg, 50)
    .option('--status <status>', 'only open or closed campaigns', statusArg)
    .option('--json', 'print JSON')
    .action(async (opts: { limit: number; status?: 'open' | 'closed'; json?: boolean }) => {
      await withContext(io, async (ctx) => {
        const items = await ctx.incidents.campaigns.list({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
        if (opts.json) {
          io.out(JSON.stringify(items, null, 2));
          return;
        }
        if (items.length === 0) {
          io.out('no campaigns');
          return;
        }
        const rows = items.map((c) => [c.id, when(c.detectedAt), count(c.accounts), count(c.exposedAccounts), c.countries.slice(0, 5).join(',') || '-', c.status]);
        for (const line of table(['ID', 'DETECTED', 'ACCOUNTS', 'EXPOSED', 'COUNTRIES', 'STATUS'], rows)) io.out(line);
      });
    });
  campaigns
    .command('show')
    .description('the disclosure report of a campaign: window, accounts, origins, number blocks probed, every account exposed')
    .argument('<id>', 'campaign id', campaignIdArg)
    .option('--json', 'print the report as JSON (complete: every exposed account)')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withContext(io, async (ctx) => {
        const report = await ctx.incidents.campaigns.campaignReport(id);
        if (opts.json) io.out(JSON.stringify(report, null, 2));
        else for (const line of describeReport(report)) io.out(line);
      });
    });
}
