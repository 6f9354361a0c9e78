import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Console } from '../../console/index.js';
import { requireRole } from './auth.js';
import { EpochMs, Json, NullableString, routeSchema } from './common.js';
import { TextBlock } from '../../util/text.js';

const Nullable = (t: ReturnType<typeof Type.Number>) => Type.Union([t, Type.Null()]);
const PolicyTables = Type.Object({
  name: Type.String(),
  tiers: Type.Array(Type.Object({ name: Type.String(), description: NullableString, when: Type.Union([Type.Record(Type.String(), Json), Type.Null()]) })),
  layers: Type.Array(
    Type.Object({
      id: Type.String(),
      description: NullableString,
      subject: Type.String(),
      cost: Type.String(),
      on: Type.Array(Type.String()),
      shadow: Type.Boolean(),
      onStoreError: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
      limits: Type.Array(
        Type.Object({ tier: Type.String(), burst: Nullable(Type.Number()), refill: Nullable(Type.Number()), per: NullableString, challengeBelow: Nullable(Type.Number()) }),
      ),
    }),
  ),
  breaker: Type.Union([Type.Record(Type.String(), Json), Type.Null()]),
  challenge: Type.Union([Type.Record(Type.String(), Json), Type.Null()]),
  abuse: Type.Union([Type.Object({ mode: Type.String(), settings: Type.Record(Type.String(), Json) }), Type.Null()]),
  other: Type.Record(Type.String(), Json),
});

const WhatIfBody = Type.Object(
  {
    policy: TextBlock({ minLength: 1, maxLength: 200_000, description: "A built-in policy's name, or a policy document in YAML" }),
    from: EpochMs,
    to: EpochMs,
    engine: Type.Optional(Type.Boolean({ description: "Also replay the candidate's abuse engine (its detectors and action thresholds) over the window; default true" })),
  },
  { additionalProperties: false },
);

const EngineCounts = Type.Object({
  accounts: Type.Integer({ description: 'Accounts whose strongest verdict was this action' }),
  campaign: Type.Integer({ description: 'Of those, members of a campaign' }),
  organic: Type.Integer({ description: 'Of those, organic-looking accounts (no campaign, never acted on by the engine)' }),
});
const EngineWhatIf = Type.Object(
  {
    mode: Type.Union([Type.Literal('enforce'), Type.Literal('shadow')]),
    events: Type.Integer(),
    signups: Type.Integer(),
    truncated: Type.Boolean(),
    evaluations: Type.Integer(),
    evaluateEveryMs: Type.Integer(),
    worker: Type.Boolean({ description: 'Replayed in a worker thread (large windows), off the serving event loop' }),
    clusters: Type.Integer({ description: 'Whole clusters it would have suspended (campaigns it would have opened)' }),
    suspend: EngineCounts,
    challenge: EngineCounts,
    throttle: EngineCounts,
    campaignAccounts: Type.Integer(),
    campaignCaught: Type.Integer({ description: 'Campaign accounts it would have suspended' }),
    organicAccounts: Type.Integer(),
    organicTouched: Type.Integer({ description: 'Organic-looking accounts it would have suspended, challenged or throttled' }),
  },
  { description: "The candidate's abuse engine replayed in an engine of its own that acts on nothing" },
);

const WhatIf = Type.Object({
  policy: Type.String(),
  from: EpochMs,
  to: EpochMs,
  events: Type.Integer(),
  truncated: Type.Boolean(),
  actual: Type.Object({ refused: Type.Integer(), challenged: Type.Integer() }),
  wouldRefuse: Type.Integer(),
  wouldChallenge: Type.Integer(),
  wouldRefuseByScope: Type.Record(Type.String(), Type.Integer()),
  accountsTouched: Type.Integer(),
  organicTouched: Type.Integer(),
  organicAccounts: Type.Integer(),
  campaignAccounts: Type.Integer(),
  campaignCaught: Type.Integer(),
  engine: Type.Union([EngineWhatIf, Type.Null()]),
});

export function policyRoutes(uc: Console): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/policy',
      {
        schema: routeSchema('getPolicy', 'The active policy as readable tables', 'viewer', { response: { 200: PolicyTables } }),
        preValidation: requireRole('viewer'),
      },
      async () => uc.policy.tables(),
    );

    // Reads only, but runs a replay worth guarding: admins (who manage policy) only.
    app.post<{ Body: Static<typeof WhatIfBody> }>(
      '/policy/what-if',
      {
        schema: routeSchema('policyWhatIf', 'Replay a candidate policy (its limits and its abuse engine) over the stored lookup events of a window (at most 7 days): what it would have refused, suspended, challenged or throttled, whom it would have touched', 'admin', {
          body: WhatIfBody,
          response: { 200: WhatIf },
        }),
        preValidation: requireRole('admin'),
      },
      async (request) => uc.policy.whatIf(request.body.policy, request.body.from, request.body.to, request.body.engine === undefined ? {} : { engine: request.body.engine }),
    );
  };
}
