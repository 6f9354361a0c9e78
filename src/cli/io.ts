import { buildConfig, type Config } from '../config/config.js';
import { readEnv } from '../config/env.js';

/** What a command may touch of the outside world; tests pass their own. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out(line: string): void;
  err(line: string): void;
  /** Whether stderr is a terminal, for progress bars. */
  interactive: boolean;
}

export const processIo: CliIo = {
  env: process.env,
  cwd: process.cwd(),
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  interactive: Boolean(process.stderr.isTTY),
};

/** The checked configuration; its warnings (a data folder others can read) go to stderr. */
export function loadConfig(io: CliIo): Config {
  const config = buildConfig(readEnv(io.env), io.cwd);
  for (const warning of config.warnings) io.err(`warning: ${warning}`);
  return config;
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
