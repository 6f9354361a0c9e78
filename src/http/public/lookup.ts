import type { FastifyPluginAsync } from 'fastify';
import { checkLimitsRecorded, lookupCall, recordAllowed } from '../../abuse/record.js';
import type { AppContext } from '../../context.js';
import { LookupBody, LookupResponse } from '../../discovery/schemas.js';
import { errorResponses } from '../schemas.js';
import { callerOf, callerRegion, DeviceHeaders, limitRequest } from './caller.js';

export function lookupRoute(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: LookupBody }>(
      '/lookup',
      {
        schema: {
          tags: ['discovery'],
          summary: 'Find the account behind one phone number or email',
          description:
            'Answers with a match only for a verified contact point with purpose discovery on an active account. ' +
            'Every other case (unregistered, registered but not discoverable, 2FA-only, suspended) answers the same bytes.',
          security: [{ appJwt: [] }],
          headers: DeviceHeaders,
          body: LookupBody,
          response: { 200: LookupResponse, ...errorResponses },
        },
      },
      async (request) => {
        const caller = callerOf(request);
        const account = await ctx.discovery.authorizeCaller(caller.accountId);
        const prepared = ctx.discovery.prepareLookup(request.body);
        // Lookup events (src/abuse): refusals and challenges are emitted around the check, allowed calls after the answer.
        const call = lookupCall(caller, account, prepared);
        const verdict = await checkLimitsRecorded(ctx, call, () => {
          const abuse = ctx.abuse.guard(caller.accountId, [prepared.value], ctx.clock.now(), callerRegion(account.phoneRegion, caller.ip, ctx.ipIntel), account);
          return ctx.limits.check(limitRequest(caller, { account, operation: 'lookup', newNumbers: 1 }, abuse));
        });
        const answer = await ctx.discovery.completeLookup(prepared);
        await recordAllowed(ctx, call, verdict, { matched: answer.match ? 1 : 0, revealed: answer.match ? [answer.match.accountId] : [] });
        return answer;
      },
    );
  };
}
