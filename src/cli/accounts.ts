import { InvalidArgumentError, type Command } from 'commander';
import { isAccountId } from '../directory/account-id.js';
import { isContactLike } from '../directory/contact-like.js';
import { isNewOperatorName, NEW_OPERATOR_NAME_RULE } from '../incidents/common.js';
import type { EnforcementAction } from '../incidents/index.js';
import { when, withContext } from './campaigns.js';
import { loginName, reasonArg, type CliIo } from './io.js';

/** An account id argument, checked by the rule the API and the import apply (directory/account-id.ts). */
export function accountIdArg(value: string): string {
  if (!isAccountId(value)) throw new InvalidArgumentError('not a valid account id');
  return value;
}

/** A subject for a new token: also never a contact value, which the JWT check refuses (directory/account-id.ts). */
export function subjectArg(value: string): string {
  accountIdArg(value);
  if (isContactLike(value)) throw new InvalidArgumentError('an account id must be opaque, never a phone number or an email address');
  return value;
}

/** Who acts: stored for good (audit trail, actions, the webhook to the app), so never an address, as a new operator's name (operators/service.ts). */
function operatorArg(value: string): string {
  if (!isNewOperatorName(value)) throw new InvalidArgumentError(NEW_OPERATOR_NAME_RULE);
  return value;
}

function describeAction(a: EnforcementAction): string[] {
  const until = a.expiresAt !== null ? ` until ${when(a.expiresAt)}` : '';
  const reversed = a.reversedBy ? ` (lifted by ${a.reversedBy})` : '';
  const context = [a.clusterId ? `cluster ${a.clusterId}` : '', a.campaignId ? `campaign ${a.campaignId}` : ''].filter(Boolean).join(', ');
  return [
    `  ${when(a.at)}  ${a.action}${until} by ${a.actor}: ${a.reason}${reversed}  [${a.id}]`,
    ...(context ? [`      ${context}`] : []),
    `      evidence ${JSON.stringify(a.evidence)}`,
  ];
}

/** `findguard accounts show|reinstate`: an account as incident response sees it, and lifting findguard's suspension. */
export function accountsCommand(program: Command, io: CliIo): void {
  const accounts = program.command('accounts').description("an account's status, enforcement history and campaigns; reinstatement");
  accounts
    .command('show')
    .description('status (app and findguard), risk, enforcement actions with their evidence, campaigns')
    .argument('<id>', 'account id', accountIdArg)
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withContext(io, async (ctx) => {
        const account = await ctx.directory.getAccount(id);
        const now = ctx.clock.now();
        const restrictions = await ctx.incidents.enforcer.activeRestrictions(id, now);
        const actions = await ctx.incidents.enforcer.actionsFor(id);
        const campaigns = await ctx.incidents.campaigns.forAccount(id);
        if (opts.json) {
          io.out(JSON.stringify({ ...account, restrictions, actions, campaigns }, null, 2));
          return;
        }
        io.out(`account    ${account.id} (${account.handle})`);
        io.out(`status     ${account.status} (app: ${account.appStatus}, findguard: ${account.findguardStatus})`);
        io.out(`risk       ${account.risk ?? 'not assessed'}`);
        const running = [
          restrictions.throttledUntil !== null ? `throttled until ${when(restrictions.throttledUntil)}` : '',
          restrictions.challengeUntil !== null ? `challenged until ${when(restrictions.challengeUntil)}` : '',
        ].filter(Boolean);
        io.out(`limits     ${running.join(', ') || 'none'}`);
        io.out(`actions    ${actions.length === 0 ? 'none' : actions.length}`);
        for (const a of actions) for (const line of describeAction(a)) io.out(line);
        io.out(`campaigns  ${campaigns.length === 0 ? 'none' : campaigns.length}`);
        for (const c of campaigns) {
          const exposed = c.firstExposedAt !== null ? `, first exposed ${when(c.firstExposedAt)}` : '';
          io.out(`  ${c.campaignId}  ${c.role} (${c.status}, detected ${when(c.detectedAt)}${exposed})`);
        }
      });
    });
  accounts
    .command('reinstate')
    .description("lift findguard's suspension of an account (audit-logged; sends account.reinstated)")
    .argument('<id>', 'account id', accountIdArg)
    .requiredOption('--reason <text>', 'why: kept in the audit log and sent to the app', reasonArg)
    .option('--operator <name>', 'who is acting (default: the login name)', operatorArg)
    .action(async (id: string, opts: { reason: string; operator?: string }) => {
      const operator = opts.operator ?? loginName(io);
      if (!operator) {
        io.err('--operator NAME is required (no usable login name to default to)');
        process.exitCode = 1;
        return;
      }
      await withContext(io, async (ctx) => {
        const r = await ctx.incidents.enforcer.reinstate(id, { actor: operator, reason: opts.reason });
        if (!r.reinstated) {
          io.out(`${id} is not suspended by findguard: nothing to do`);
          return;
        }
        io.out(`reinstated ${id} by ${operator} [${r.actionId}]; lifted ${r.reversed.length} action${r.reversed.length === 1 ? '' : 's'}; account.reinstated queued`);
      });
    });
}
