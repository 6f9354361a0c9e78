import { buildApp, type App } from './app.js';
import type { Config, Secrets } from './config/config.js';
import { openDb } from './db/dialect.js';
import { createAppContext, migrate, type AppContext, type ContextOverrides } from './context.js';
import { createLogger } from './logger.js';

export interface Service {
  app: App;
  ctx: AppContext;
  close(): Promise<void>;
}

export interface ServiceOptions extends ContextOverrides {
  /**
   * Run the migrations first (default true): `findguard serve` migrates before it listens. false
   * when the caller has (a second node on the same database, a test that migrated it).
   */
  migrate?: boolean;
}

/**
 * A whole serving findguard, as `findguard serve` runs it without listening: migrate (an explicit
 * step), build the serving context and its HTTP app, then start the context.
 */
export async function createService(config: Config, secrets: Secrets, options: ServiceOptions = {}): Promise<Service> {
  const { migrate: runMigrations = true, ...overrides } = options;
  const db = overrides.db ?? openDb(config.database);
  if (runMigrations) {
    try {
      await migrate(db, overrides.logger ?? createLogger(config.logLevel));
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  const ctx = await createAppContext(config, secrets, { ...overrides, db });
  try {
    const app = await buildApp(ctx);
    await app.ready();
    await ctx.start();
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

export type { Config, Secrets, Settings } from './config/config.js';
export { buildConfig, buildSecrets, buildSettings } from './config/config.js';
