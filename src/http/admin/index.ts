import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.js';
import { adminAuth, authDepsOf } from './auth.js';
import { operatorRoutes } from './operators.js';

/**
 * The admin API at /admin/v1: operators authenticate once here (adminAuth), then each route
 * guards itself with requireRole. (Minimal until the console's routes join it.)
 */
export function adminApi(ctx: AppContext): FastifyPluginAsync {
  const deps = authDepsOf(ctx);
  return async (app) => {
    await app.register(adminAuth(deps));
    await app.register(operatorRoutes(deps));
  };
}
