import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.js';
import { AppError } from '../../errors.js';
import { lookupRoute } from './lookup.js';
import { syncRoute } from './sync.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The app account behind the JWT, set by the public API's auth hook. */
    callerId?: string;
  }
}

/** The public discovery API for app clients, authenticated by the app's own JWTs. */
export function publicApi(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.decorateRequest('callerId', undefined);
    app.addHook('onRequest', async (request) => {
      const caller = await ctx.jwt.verify(request.headers.authorization);
      request.callerId = caller.accountId;
      // Under `unreadableAddress: hosting` the call goes on, as UNREADABLE_ADDRESS (see callerOf).
      if (request.clientAddress === undefined && ctx.limits.policy.unreadableAddress === 'refuse') {
        throw new AppError('invalid_client_address', 'the address this call comes from cannot be read');
      }
    });
    await app.register(lookupRoute(ctx));
    await app.register(syncRoute(ctx));
  };
}
