import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { incidentClock, listIncidents, readPhases, type IncidentRecord, type IncidentStatus, type PhaseRecord } from '../incidents/index.js';
import { writePrivateFile } from '../util/private-file.js';
import { table, when, withContext } from './campaigns.js';
import type { CliIo } from './io.js';

/** `findguard incidents list|show|export|signing-key`: incidents and their regulator's report, read-only. */

const STATUSES: readonly IncidentStatus[] = ['draft', 'in_review', 'approved', 'notified', 'closed'];
const FORMATS = ['json', 'html', 'csv'] as const;
type Format = (typeof FORMATS)[number];

function idArg(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw new InvalidArgumentError('not an incident id');
  return value;
}

function statusArg(value: string): IncidentStatus {
  if (!(STATUSES as readonly string[]).includes(value)) throw new InvalidArgumentError(STATUSES.join(', '));
  return value as IncidentStatus;
}

function formatArg(value: string): Format {
  if (!(FORMATS as readonly string[]).includes(value)) throw new InvalidArgumentError(FORMATS.join(', '));
  return value as Format;
}

function limitArg(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 500) throw new InvalidArgumentError('a whole number from 1 to 500');
  return Number(value);
}

/** `71h 05m left`, or `3h 10m overdue`. */
export function timeLeft(ms: number): string {
  const abs = Math.abs(ms);
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  return `${h}h ${String(m).padStart(2, '0')}m ${ms >= 0 ? 'left' : 'overdue'}`;
}

function describe(incident: IncidentRecord, phases: PhaseRecord[], now: number): string[] {
  const clock = incidentClock(incident.awareAt, now, phases[0]?.status === 'approved');
  const lines = [
    `incident   ${incident.id}: ${incident.title}`,
    `status     ${incident.status}${incident.notices !== null ? ` (${incident.notices} notices)` : ''}`,
    `aware      ${when(incident.awareAt)}`,
    `deadline   ${when(clock.deadline)} (${clock.stopped ? 'first report approved' : timeLeft(clock.remainingMs)})`,
    `owner      ${incident.owner ?? '-'}`,
    `opened by  ${incident.openedBy} (${incident.source})`,
    `campaigns  ${incident.campaignIds.join(', ')}`,
  ];
  if (incident.notes) lines.push(`notes      ${incident.notes}`);
  for (const p of phases) {
    const approvals = p.approvals.map((a) => a.operatorName).join(', ') || 'none';
    lines.push(`phase ${p.number}    ${p.kind === 'initial' ? 'first report' : 'supplement'}, ${p.status}; approvals: ${approvals}`);
  }
  return lines;
}

export function incidentsCommand(program: Command, io: CliIo): void {
  const incidents = program.command('incidents').description("incidents gathered from campaigns, and the regulator's report (GDPR Art. 33)");
  incidents
    .command('list')
    .description('incidents, latest awareness first, with the 72-hour clock')
    .option('--status <status>', `only incidents in this status (${STATUSES.join(', ')})`, statusArg)
    .option('--limit <n>', 'at most this many', limitArg, 100)
    .option('--json', 'print JSON')
    .action(async (opts: { status?: IncidentStatus; limit: number; json?: boolean }) => {
      await withContext(io, async (ctx) => {
        const items = await listIncidents(ctx.db.kysely, { limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
        const now = ctx.clock.now();
        if (opts.json) {
          io.out(JSON.stringify(items.map((i) => ({ ...i, clock: incidentClock(i.awareAt, now, i.status !== 'draft' && i.status !== 'in_review') })), null, 2));
          return;
        }
        if (items.length === 0) {
          io.out('no incidents');
          return;
        }
        const rows = items.map((i) => {
          const c = incidentClock(i.awareAt, now, i.status !== 'draft' && i.status !== 'in_review');
          return [i.id, i.status, when(i.awareAt), c.stopped ? '-' : timeLeft(c.remainingMs), String(i.campaignIds.length), i.title];
        });
        for (const line of table(['ID', 'STATUS', 'AWARE', 'CLOCK', 'CAMPAIGNS', 'TITLE'], rows)) io.out(line);
      });
    });
  incidents
    .command('show')
    .description('an incident: status, 72-hour clock, campaigns, report phases and approvals')
    .argument('<id>', 'incident id', idArg)
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withContext(io, async (ctx) => {
        const incident = await ctx.incidents.lifecycle.get(id);
        const phases = await readPhases(ctx.db.kysely, id);
        const now = ctx.clock.now();
        if (opts.json) io.out(JSON.stringify({ incident, clock: incidentClock(incident.awareAt, now, phases[0]?.status === 'approved'), phases }, null, 2));
        else for (const line of describe(incident, phases, now)) io.out(line);
      });
    });
  incidents
    .command('export')
    .description("the regulator's report: signed JSON, a printable HTML page, or the exposures as CSV (never a phone number)")
    .argument('<id>', 'incident id', idArg)
    .requiredOption('--format <format>', FORMATS.join(', '), formatArg)
    .option('--out <file>', 'write to this file (mode 0600: it names the exposed accounts) instead of standard output')
    .action(async (id: string, opts: { format: Format; out?: string }) => {
      await withContext(io, async (ctx) => {
        const reports = ctx.incidents.reports;
        const text = opts.format === 'json' ? `${JSON.stringify(await reports.signed(id), null, 2)}\n` : opts.format === 'html' ? await reports.html(id) : await reports.csv(id);
        if (opts.out) {
          const path = resolve(io.cwd, opts.out);
          writePrivateFile(path, text, ctx.random);
          io.err(`wrote ${path}`);
        } else io.out(text.replace(/\n$/, ''));
      });
    });
  incidents
    .command('signing-key')
    .description('the Ed25519 public key that verifies signed reports (PEM; --json for the JWK too)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withContext(io, async (ctx) => {
        const key = ctx.incidents.reports.publishedKey;
        io.out(opts.json ? JSON.stringify(key, null, 2) : key.pem.trimEnd());
      });
    });
}
