import { InvalidArgumentError, type Command } from 'commander';
import type { CliContext } from '../context.js';
import { AppError } from '../errors.js';
import { isNewOperatorName, isOperatorName, NEW_OPERATOR_NAME_RULE } from '../incidents/common.js';
import { isRole, type Role } from '../operators/roles.js';
import type { OperatorInfo } from '../operators/service.js';
import { table, when, withContext } from './campaigns.js';
import type { CliIo } from './io.js';

function roleArg(value: string): Role {
  if (!isRole(value)) throw new InvalidArgumentError('viewer, analyst or admin');
  return value;
}

/** The name of an existing operator: one added before '@' was refused may still hold it. */
function nameArg(value: string): string {
  if (!isOperatorName(value)) throw new InvalidArgumentError('1-64 letters, digits or . _ @ -');
  return value;
}

/** The name of an operator being added: never an email address (incidents/common.ts isNewOperatorName). */
function newNameArg(value: string): string {
  if (!isNewOperatorName(value)) throw new InvalidArgumentError(NEW_OPERATOR_NAME_RULE);
  return value;
}

async function operatorNamed(ctx: CliContext, name: string): Promise<OperatorInfo> {
  const op = await ctx.operators.byName(name);
  if (!op) throw new AppError('not_found', `no operator named ${name}`);
  return op;
}

/**
 * `findguard operators add|list|set-role|disable|enable|reset-totp|token create`: run on the server itself, so it
 * acts as the CLI (role 'system' in the audit trail) and may manage any operator. Secrets are
 * printed once, to stdout, and never stored in the clear.
 */
export function operatorsCommand(program: Command, io: CliIo): void {
  const ops = program.command('operators').description('console operators: add, list, set a role, disable, enable, reset TOTP, API tokens');

  ops
    .command('add')
    .description('add a local operator; prints the generated password (unless --password-stdin) and the TOTP secret and otpauth:// URI, once')
    .argument('<name>', 'operator name', newNameArg)
    .requiredOption('--role <role>', 'viewer, analyst or admin', roleArg)
    .option('--password-stdin', 'read the password from standard input instead of generating one')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { role: Role; passwordStdin?: boolean; json?: boolean }) => {
      let password: string | undefined;
      if (opts.passwordStdin) {
        if (!io.readStdin) throw new Error('no standard input to read the password from');
        password = (await io.readStdin()).replace(/\r?\n$/, '');
      }
      await withContext(io, async (ctx) => {
        const made = await ctx.operators.add('cli', name, opts.role, password);
        if (opts.json) {
          io.out(JSON.stringify({ operator: made.operator, ...(made.password ? { password: made.password } : {}), totpSecret: made.totpSecret, totpUri: made.totpUri }));
          return;
        }
        io.out(`operator ${made.operator.name} (${made.operator.role}) added`);
        if (made.password) io.out(`password     ${made.password}`);
        io.out(`TOTP secret  ${made.totpSecret}`);
        io.out(`TOTP URI     ${made.totpUri}`);
        io.out('Shown once: store the password and scan the URI into an authenticator app now.');
      });
    });

  ops
    .command('list')
    .description('every operator')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withContext(io, async (ctx) => {
        const list = await ctx.operators.list();
        if (opts.json) return io.out(JSON.stringify(list));
        const names = new Map(list.map((o) => [o.id, o.name]));
        const signIn = (o: OperatorInfo): string => {
          const ways = [o.password ? 'password+totp' : '', o.oidc ? 'oidc' : ''].filter(Boolean).join(', ');
          // Handed to another operator: that sign-in approves nothing until reset-totp here.
          return o.signInHeldBy === null ? ways : `${ways} (held by ${names.get(o.signInHeldBy) ?? o.signInHeldBy})`;
        };
        const rows = list.map((o) => [o.name, o.role, o.status, signIn(o), when(o.createdAt), o.id]);
        for (const line of table(['NAME', 'ROLE', 'STATUS', 'SIGN-IN', 'CREATED', 'ID'], rows)) io.out(line);
      });
    });

  ops
    .command('disable')
    .description('disable an operator: their sessions and API tokens end at once')
    .argument('<name>', 'operator name', nameArg)
    .option('--reason <text>', 'why, for the audit trail')
    .action(async (name: string, opts: { reason?: string }) => {
      await withContext(io, async (ctx) => {
        const op = await operatorNamed(ctx, name);
        await ctx.operators.disable('cli', op.id, opts.reason);
        io.out(`operator ${name} disabled; their sessions and tokens are ended`);
      });
    });

  ops
    .command('enable')
    .description('let a disabled operator sign in again (their ended sessions and tokens stay ended)')
    .argument('<name>', 'operator name', nameArg)
    .option('--reason <text>', 'why, for the audit trail')
    .action(async (name: string, opts: { reason?: string }) => {
      await withContext(io, async (ctx) => {
        const op = await operatorNamed(ctx, name);
        await ctx.operators.enable('cli', op.id, opts.reason);
        io.out(`operator ${name} enabled`);
      });
    });

  ops
    .command('set-role')
    .description("change a local operator's role; a demotion ends their sessions at once")
    .argument('<name>', 'operator name', nameArg)
    .argument('<role>', 'viewer, analyst or admin', roleArg)
    .option('--reason <text>', 'why, for the audit trail')
    .action(async (name: string, role: Role, opts: { reason?: string }) => {
      await withContext(io, async (ctx) => {
        const op = await operatorNamed(ctx, name);
        const r = await ctx.operators.setRole('cli', op.id, role, opts.reason);
        if (op.role === role) io.out(`operator ${name} is already ${role}`);
        else io.out(`operator ${name}: ${op.role} -> ${role}${r.sessionsEnded > 0 ? `; ${r.sessionsEnded} session(s) ended` : ''}`);
      });
    });

  ops
    .command('reset-totp')
    .description('give an operator a new TOTP secret (printed once); their sessions end')
    .argument('<name>', 'operator name', nameArg)
    .action(async (name: string) => {
      await withContext(io, async (ctx) => {
        const op = await operatorNamed(ctx, name);
        const r = await ctx.operators.resetTotp('cli', op.id);
        io.out(`TOTP secret  ${r.totpSecret}`);
        io.out(`TOTP URI     ${r.totpUri}`);
      });
    });

  const token = ops.command('token').description("operators' API tokens");
  token
    .command('create')
    .description('an API token for scripts (Authorization: Bearer), printed once and stored hashed')
    .argument('<name>', 'operator name', nameArg)
    .option('--label <text>', 'what the token is for', 'cli')
    .action(async (name: string, opts: { label: string }) => {
      await withContext(io, async (ctx) => {
        const op = await operatorNamed(ctx, name);
        const t = await ctx.operators.createToken('cli', op.id, opts.label.slice(0, 100));
        io.out(t.token);
        io.err(`token ${t.id} for ${name} (${op.role}); shown once`);
      });
    });
  token
    .command('revoke')
    .description('revoke an API token by its id')
    .argument('<id>', 'token id')
    .action(async (id: string) => {
      await withContext(io, async (ctx) => {
        await ctx.operators.revokeToken('cli', id);
        io.out(`token ${id} revoked`);
      });
    });
}
