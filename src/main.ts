import { buildApp, type App } from './app.js';
import type { Config } from './config/config.js';
import { createContext, type AppContext, type ContextOverrides } from './context.js';

export interface Service {
  app: App;
  ctx: AppContext;
  close(): Promise<void>;
}

/** Builds a whole serving findguard (context + HTTP app) and starts its background work, without listening. */
export async function createService(config: Config, overrides: ContextOverrides = {}): Promise<Service> {
  const ctx = await createContext(config, overrides);
  try {
    // This process serves discovery: it enforces the standing decisions, read before the first call.
    await ctx.incidents.decisions.start();
    const app = await buildApp(ctx);
    await app.ready();
    ctx.start();
    return {
      app,
      ctx,
      close: async () => {
        await app.close();
        await ctx.close();
      },
    };
  } catch (err) {
    await ctx.close();
    throw err;
  }
}

export type { Config } from './config/config.js';
export { buildConfig } from './config/config.js';
