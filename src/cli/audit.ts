import { InvalidArgumentError, type Command } from 'commander';
import { listAudit, verifyAudit } from '../incidents/index.js';
import { table, when, withContext } from './campaigns.js';
import type { CliIo } from './io.js';

function limitArg(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) throw new InvalidArgumentError('a whole number from 1 to 1000');
  return Number(value);
}

function seqArg(value: string): number {
  if (!/^\d{1,15}$/.test(value)) throw new InvalidArgumentError('an entry number (SEQ)');
  return Number(value);
}

const PROBLEMS = {
  gap: 'is missing (deleted)',
  prev_hash: 'does not follow the entry before it (an entry before it was replaced or removed)',
  hash: 'was changed after it was written',
  head: 'is missing: the chain ends before its recorded head (entries at the end deleted)',
} as const;

/** `findguard audit verify|list`: the hash-chained audit trail (src/incidents/audit.ts). */
export function auditCommand(program: Command, io: CliIo): void {
  const audit = program.command('audit').description('the audit trail of operator actions and sign-ins');

  audit
    .command('verify')
    .description('walk the hash chain: exit 0 when intact, 1 naming the first bad entry')
    .action(async () => {
      await withContext(io, async (ctx) => {
        const v = await verifyAudit(ctx.db.kysely);
        if (v.ok) {
          io.out(`audit trail intact: ${v.entries} entries, head ${v.headHash}`);
          return;
        }
        io.err(`audit trail broken: entry ${v.seq}${v.id ? ` (${v.id})` : ''} ${PROBLEMS[v.problem]}; ${v.entries} entries before it verify`);
        process.exitCode = 1;
      });
    });

  audit
    .command('list')
    .description('entries, newest first')
    .option('--subject <subject>', 'e.g. account:<id>, operator:<id>')
    .option('--actor <id>', "an operator's id")
    .option('--action <action>', 'e.g. signin.failed')
    .option('--limit <n>', 'how many', limitArg, 50)
    .option('--before <seq>', 'entries before this one (the next page: the last SEQ shown)', seqArg)
    .option('--json', 'print JSON')
    .action(async (opts: { subject?: string; actor?: string; action?: string; limit: number; before?: number; json?: boolean }) => {
      await withContext(io, async (ctx) => {
        const entries = await listAudit(ctx.db.kysely, {
          limit: opts.limit,
          ...(opts.subject ? { subject: opts.subject } : {}),
          ...(opts.actor ? { actorId: opts.actor } : {}),
          ...(opts.action ? { action: opts.action } : {}),
          ...(opts.before !== undefined ? { before: opts.before } : {}),
        });
        if (opts.json) {
          for (const e of entries) io.out(JSON.stringify(e));
          return;
        }
        const rows = entries.map((e) => [String(e.seq), when(e.at), `${e.actor.name} (${e.actor.role}, ${e.actor.via})`, e.tool ?? '-', e.from ?? '-', e.action, e.subject, e.reason ?? '']);
        for (const line of table(['SEQ', 'AT', 'WHO', 'TOOL', 'FROM', 'ACTION', 'SUBJECT', 'REASON'], rows)) io.out(line);
      });
    });
}
