import type { FastifyPluginAsync } from 'fastify';
import type { AdminAuthDeps } from './auth.js';
import { operatorManagementRoutes } from './operator-routes.js';
import { sessionRoutes } from './session-routes.js';

/**
 * AUTH's routes under /admin/v1: the session (sign in and out, OIDC) and operator management.
 * Register inside the scope where adminAuth is registered (src/http/admin/index.ts does).
 */
export function operatorRoutes(deps: AdminAuthDeps): FastifyPluginAsync {
  return async (app) => {
    await app.register(sessionRoutes(deps));
    await app.register(operatorManagementRoutes(deps));
  };
}
