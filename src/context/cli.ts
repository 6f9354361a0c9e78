import type { Config, Secrets } from '../config/config.js';
import { createCore, type CoreContext, type CoreOverrides } from './core.js';

/**
 * The context of a one-shot CLI command (seed, import, campaigns, accounts): the shared core, never
 * started, so a command that reads or writes once never consumes events, deletes old ones or
 * delivers webhooks. What it writes reaches the engine the way every write does: its sign-up
 * events are published (to Redis for the worker fleet; embedded, to the in-process pipeline).
 */
export interface CliContext extends CoreContext {
  close(): Promise<void>;
}

export async function createCliContext(config: Config, secrets: Secrets, overrides: CoreOverrides = {}): Promise<CliContext> {
  const built = await createCore(config, secrets, overrides, { consume: false, deliver: false });
  return { ...built.core, close: built.close };
}
