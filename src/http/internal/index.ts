import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.js';
import { serviceKeyChecker } from '../auth/service-key.js';
import { accountRoutes } from './accounts.js';
import { contactPointRoutes } from './contact-points.js';
import { importRoute } from './import.js';

/** The internal API for the app backend, authenticated by the service key. */
export function internalApi(ctx: AppContext): FastifyPluginAsync {
  const check = serviceKeyChecker(ctx.secrets.serviceKey);
  return async (app) => {
    app.addHook('onRequest', async (request) => check(request.headers.authorization));
    await app.register(accountRoutes(ctx));
    await app.register(contactPointRoutes(ctx));
    await app.register(importRoute(ctx));
  };
}
