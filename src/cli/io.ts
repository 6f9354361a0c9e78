import { InvalidArgumentError } from 'commander';
import { buildSettings, type Settings } from '../config/config.js';
import { readEnv } from '../config/env.js';
import type { AuditActor } from '../incidents/audit.js';
import { isNewOperatorName } from '../incidents/common.js';

/** What a command may touch of the outside world; tests pass their own. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out(line: string): void;
  err(line: string): void;
  /** Whether stderr is a terminal, for progress bars. */
  interactive: boolean;
  /** All of standard input, as text (`operators add --password-stdin`). */
  readStdin?(): Promise<string>;
}

export const processIo: CliIo = {
  env: process.env,
  cwd: process.cwd(),
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  interactive: Boolean(process.stderr.isTTY),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

/** The checked configuration and secrets; the warnings (a data folder others can read) go to stderr. */
export function loadSettings(io: CliIo): Settings {
  const settings = buildSettings(readEnv(io.env), io.cwd);
  for (const warning of settings.config.warnings) io.err(`warning: ${warning}`);
  return settings;
}

/** Resolves at the first SIGINT or SIGTERM: long-running commands then close their resources. */
export function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** A `--reason` as the audit log keeps it. */
export function reasonArg(value: string): string {
  if (value.trim().length === 0 || value.length > 1000) throw new InvalidArgumentError('1 to 1000 characters');
  return value;
}

/** Who a change made with the CLI is audited as: the login running it (nobody signs in to the CLI). */
export function cliAuditor(io: CliIo): { actor: AuditActor; from: null; tool: 'cli' } {
  const who = loginName(io) ?? 'cli';
  return { actor: { id: who, name: who, role: 'system', via: 'cli' }, from: null, tool: 'cli' };
}

/**
 * The login running the CLI as an actor's name, or undefined when it is none. A directory login
 * can be an address ("jane@corp.example"), and actors are stored for good (the append-only audit
 * trail, enforcement actions, webhooks to the app): the part before '@' is kept, as a sign-in
 * through OIDC keeps it (operators/oidc-names.ts), and anything else no operator could be named is
 * refused.
 */
export function loginName(io: CliIo): string | undefined {
  const raw = io.env.USER ?? io.env.LOGNAME;
  if (raw === undefined) return undefined;
  const name = raw.split('@')[0]!;
  return isNewOperatorName(name) ? name : undefined;
}
