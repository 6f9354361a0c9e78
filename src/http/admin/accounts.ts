import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Console } from '../../console/index.js';
import { AccountId } from '../../directory/account-id.js';
import { AppError } from '../../errors.js';
import { requireRole } from './auth.js';
import { DecisionSchema } from './decisions.js';
import { actorOf, EpochMs, Json, NullableMs, NullableString, ReasonBody, routeSchema } from './common.js';
import { TextLine } from '../../util/text.js';

const Params = Type.Object({ id: AccountId });
const Status = Type.Union([Type.Literal('active'), Type.Literal('suspended')]);

const AccountPage = Type.Object({
  account: Type.Object({
    id: Type.String(),
    handle: Type.String(),
    createdAt: Type.String(),
    status: Status,
    appStatus: Status,
    findguardStatus: Status,
    phoneRegion: NullableString,
    derivedPhoneRegion: NullableString,
    signup: Type.Object({
      ip: NullableString,
      deviceId: NullableString,
      userAgent: NullableString,
      attested: Type.Union([Type.Boolean(), Type.Null()], { description: 'Whether the app attested the sign-up device; null when it said nothing' }),
    }),
    contactPoints: Type.Object({ phone: Type.Integer(), email: Type.Integer(), discoverable: Type.Integer() }, { description: 'How many; never a value' }),
  }),
  risk: Type.Object({
    level: Type.Union([Type.Literal('suspended'), Type.Literal('restricted'), Type.Literal('watched'), Type.Literal('none')]),
    campaignScore: Type.Union([Type.Number(), Type.Null()]),
  }),
  actions: Type.Array(
    Type.Object({
      id: Type.String(),
      at: EpochMs,
      action: Type.String(),
      accountId: Type.String(),
      clusterId: NullableString,
      campaignId: NullableString,
      actor: Type.String(),
      reason: Type.String(),
      evidence: Json,
      expiresAt: NullableMs,
      reversedBy: NullableString,
    }),
  ),
  decisions: Type.Array(DecisionSchema),
  campaigns: Type.Array(
    Type.Object({
      campaignId: Type.String(),
      role: Type.Union([Type.Literal('attacker'), Type.Literal('exposed')]),
      status: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
      detectedAt: EpochMs,
      firstExposedAt: NullableMs,
    }),
  ),
  otherMatches: Type.Optional(Type.Array(Type.Object({ id: Type.String(), handle: Type.String() }), { description: 'Other accounts with the same handle (search only)' })),
});

const SearchBody = Type.Object(
  { handle: TextLine({ minLength: 1, maxLength: 64, description: 'An exact handle. Never a phone number or email: the console is not an oracle' }) },
  { additionalProperties: false },
);

export function accountRoutes(uc: Console): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: Static<typeof Params> }>(
      '/accounts/:id',
      {
        schema: routeSchema('getAccount', 'An account by its id: status, risk, evidence, decisions, campaigns', 'viewer', { params: Params, response: { 200: AccountPage } }),
        preValidation: requireRole('viewer'),
      },
      async (request) => uc.accounts.byId(request.params.id),
    );

    // In the body, not the URL: a handle in a query string would reach access logs and browser history.
    app.post<{ Body: Static<typeof SearchBody> }>(
      '/accounts/search',
      {
        schema: routeSchema('searchAccountByHandle', 'An account by its exact handle (in the body, never in a URL)', 'viewer', { body: SearchBody, response: { 200: AccountPage } }),
        preValidation: requireRole('viewer'),
      },
      async (request) => {
        const [first, ...others] = await uc.accounts.byHandle(request.body.handle);
        if (!first) throw new AppError('not_found', 'no account has that handle');
        const page = await uc.accounts.byId(first.id);
        return others.length > 0 ? { ...page, otherMatches: others.map((o) => ({ id: o.id, handle: o.handle })) } : page;
      },
    );

    app.post<{ Params: Static<typeof Params>; Body: Static<typeof ReasonBody> }>(
      '/accounts/:id/reinstate',
      {
        schema: routeSchema('reinstateAccount', "Lift findguard's suspension of the account (and what it caused), with a required reason", 'analyst', {
          params: Params,
          body: ReasonBody,
          response: { 200: Type.Object({ reinstated: Type.Boolean(), actionId: NullableString, reversed: Type.Array(Type.String()) }) },
        }),
        preValidation: requireRole('analyst'),
      },
      async (request) => uc.accounts.reinstate(actorOf(request), request.params.id, request.body.reason),
    );
  };
}
