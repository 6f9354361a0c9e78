import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.js';
import { LookupBody, LookupResponse } from '../../discovery/schemas.js';
import { errorResponses } from '../schemas.js';
import { callerOf, DeviceHeaders } from './caller.js';

export function lookupRoute(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: LookupBody }>(
      '/lookup',
      {
        schema: {
          tags: ['discovery'],
          operationId: 'lookup',
          summary: 'Find the account behind one phone number or email',
          description:
            'Answers with a match only for a verified contact point with purpose discovery on an active account, and for one ' +
            "discoverable by the owner's contacts only if the caller's own verified phone is in the owner's latest synced book. " +
            'Every other case (unregistered, registered but not discoverable, 2FA-only, suspended, "my contacts" and the caller not in the book) answers the same bytes.',
          security: [{ appJwt: [] }],
          headers: DeviceHeaders,
          body: LookupBody,
          response: { 200: LookupResponse, ...errorResponses },
        },
      },
      // Not async: the gate's promise is the answer (Fastify answers a synchronous throw as it does a rejection).
      (request) => ctx.gate.lookup(callerOf(request), request.body),
    );
  };
}
