import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.js';
import { AppError } from '../../errors.js';
import { lazyChildLoggers } from '../lazy-logger.js';
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
  // Under `unreadableAddress: hosting` the call goes on, as UNREADABLE_ADDRESS (see callerOf).
  const addressRefused = (request: FastifyRequest): AppError | undefined =>
    request.clientAddress === undefined && ctx.limits.policy.unreadableAddress === 'refuse'
      ? new AppError('invalid_client_address', 'the address this call comes from cannot be read')
      : undefined;
  return async (app) => {
    app.decorateRequest('callerId', undefined);
    lazyChildLoggers(app);
    // A callback hook, not an async one: a token verified before (the common case) is read from
    // the verifier's cache without a promise; any other goes through the full verification.
    app.addHook('onRequest', (request, reply, done) => {
      // Answers name accounts: no shared or private cache may keep one (errors included).
      void reply.header('cache-control', 'no-store');
      const cached = ctx.jwt.cachedAccount(request.headers.authorization);
      if (cached !== undefined) {
        request.callerId = cached;
        done(addressRefused(request));
        return;
      }
      ctx.jwt.verify(request.headers.authorization).then(
        (caller) => {
          request.callerId = caller.accountId;
          done(addressRefused(request));
        },
        (err: Error) => done(err),
      );
    });
    await app.register(lookupRoute(ctx));
    await app.register(syncRoute(ctx));
  };
}
