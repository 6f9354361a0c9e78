import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Console } from '../../console/index.js';
import { REPORT_HTML_CSP } from '../../incidents/index.js';
import { AppError } from '../../errors.js';
import { inAnothersHands } from '../../operators/principal.js';
import { operatorOf, requireRole } from './auth.js';
import { actorOf, Cursor, EpochMs, IdParams, Json, NullableMs, NullableString, Reason, routeSchema } from './common.js';
import { TextBlock, TextLine } from '../../util/text.js';

const Status = Type.Union(['draft', 'in_review', 'approved', 'notified', 'closed'].map((s) => Type.Literal(s)));
const Text = TextBlock({ maxLength: 20_000 });

const Clock = Type.Object({
  awareAt: Type.String({ format: 'date-time' }),
  deadline: Type.String({ format: 'date-time', description: 'awareAt + 72 hours (GDPR Art. 33(1))' }),
  remainingMs: Type.Integer({ description: 'Negative once the deadline has passed' }),
  stopped: Type.Boolean({ description: 'The first report is approved' }),
  overdue: Type.Boolean(),
});

const Incident = Type.Object({
  id: Type.String(),
  title: Type.String(),
  status: Status,
  awareAt: EpochMs,
  createdAt: EpochMs,
  updatedAt: EpochMs,
  owner: NullableString,
  openedBy: Type.String(),
  source: Type.Union([Type.Literal('operator'), Type.Literal('engine')]),
  notes: Type.String(),
  campaignIds: Type.Array(Type.String()),
  notifiedAt: NullableMs,
  notices: Type.Union([Type.Integer(), Type.Null()]),
  closedAt: NullableMs,
});

const Fields = Type.Object({
  nature: Text,
  categories: Text,
  consequences: Text,
  measuresTakenNote: Text,
  measuresPlanned: Text,
  art34: Type.Object({ applies: Type.Union([Type.Boolean(), Type.Null()]), reason: Text }, { additionalProperties: false }),
  supplement: Text,
});
const FieldsPatch = Type.Partial(Fields, { additionalProperties: false });

const Phase = Type.Object({
  number: Type.Integer({ minimum: 1 }),
  kind: Type.Union([Type.Literal('initial'), Type.Literal('supplement')]),
  status: Type.Union([Type.Literal('draft'), Type.Literal('in_review'), Type.Literal('approved')]),
  fields: Fields,
  authors: Type.Array(Type.String(), { description: 'Operator ids who wrote or submitted it: none of them alone approves it' }),
  createdAt: EpochMs,
  createdBy: Type.String(),
  updatedAt: EpochMs,
  submittedBy: NullableString,
  submittedAt: NullableMs,
  approvedAt: NullableMs,
  approvals: Type.Array(Type.Object({ operatorId: Type.String(), operatorName: Type.String(), at: EpochMs })),
  facts: Type.Unknown({ description: 'The generated facts as approved (null before approval)' }),
});

const View = Type.Object({
  incident: Incident,
  clock: Clock,
  phases: Type.Array(Phase),
  approvalsNeeded: Type.Integer(),
  notifierConfigured: Type.Boolean(),
});

const ListQuery = Type.Object(
  { status: Type.Optional(Status), cursor: Type.Optional(Cursor), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) },
  { additionalProperties: false },
);
const CampaignIds = Type.Array(TextLine({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 100 });
const OpenBody = Type.Object(
  {
    title: TextLine({ minLength: 1, maxLength: 200 }),
    campaignIds: CampaignIds,
    awareAt: Type.Optional(Type.Integer({ minimum: 0, description: 'When operators became aware (epoch ms); default now, never in the future' })),
    owner: Type.Optional(TextLine({ minLength: 1, maxLength: 64 })),
    notes: Type.Optional(Text),
  },
  { additionalProperties: false },
);
const PatchBody = Type.Object(
  {
    title: Type.Optional(TextLine({ minLength: 1, maxLength: 200 })),
    owner: Type.Optional(Type.Union([TextLine({ minLength: 1, maxLength: 64 }), Type.Null()])),
    notes: Type.Optional(Text),
    awareAt: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
const PhaseParams = Type.Object({ id: IdParams.properties.id, number: Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'The phase: 1 is the first report, 2… supplements' }) });
const ReasonBody = Type.Object({ reason: Reason }, { additionalProperties: false });
const PublishedKey = Type.Object({
  alg: Type.Literal('Ed25519'),
  keyId: Type.String(),
  jwk: Type.Object({ kty: Type.Literal('OKP'), crv: Type.Literal('Ed25519'), x: Type.String() }),
  pem: Type.String(),
});

type Id = { Params: Static<typeof IdParams> };

/** Each exposed person is told of an exposure once: notices are per (incident, account), so a campaign is in one incident only. */
const ONE_INCIDENT_PER_CAMPAIGN =
  'A campaign belongs to one incident at most (whoever opened it, whatever its status): naming a campaign another incident names answers ' +
  '409 `conflict` with `details: {reason: "campaign_has_incident", incidentId, campaignIds}`; add what is new to that incident (a supplement) instead.';

export function incidentRoutes(uc: Console): FastifyPluginAsync {
  const inc = uc.incidents;
  return async (app) => {
    app.get<{ Querystring: Static<typeof ListQuery> }>(
      '/incidents',
      {
        schema: routeSchema('listIncidents', 'Incidents, latest awareness first, each with its 72-hour clock', 'viewer', {
          querystring: ListQuery,
          response: { 200: Type.Object({ items: Type.Array(Type.Object({ ...Incident.properties, clock: Clock })), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => inc.list({ status: request.query.status as Static<typeof Status> | undefined, limit: request.query.limit, cursor: request.query.cursor }),
    );

    app.get(
      '/incidents/signing-key',
      {
        schema: routeSchema('getIncidentSigningKey', 'The Ed25519 public key that verifies signed incident reports (JWK and PEM)', 'viewer', { response: { 200: PublishedKey } }),
        preValidation: requireRole('viewer'),
      },
      async () => inc.signingKey(),
    );

    app.post<{ Body: Static<typeof OpenBody> }>(
      '/incidents',
      {
        schema: routeSchema('openIncident', 'Open an incident from one or more campaigns (its first report starts as a draft)', 'analyst', {
          description: `Needs the analyst role. ${ONE_INCIDENT_PER_CAMPAIGN}`,
          body: OpenBody,
          response: { 201: View },
        }),
        preValidation: requireRole('analyst'),
      },
      async (request, reply) => reply.code(201).send(await inc.open(actorOf(request), request.body)),
    );

    app.get<Id>(
      '/incidents/:id',
      {
        schema: routeSchema('getIncident', 'An incident: record, 72-hour clock, report phases and approvals', 'viewer', { params: IdParams, response: { 200: View } }),
        preValidation: requireRole('viewer'),
      },
      async (request) => inc.view(request.params.id),
    );

    app.patch<Id & { Body: Static<typeof PatchBody> }>(
      '/incidents/:id',
      {
        schema: routeSchema('updateIncident', 'Change title, owner, notes, or awareAt (awareAt only before approval)', 'analyst', { params: IdParams, body: PatchBody, response: { 200: View } }),
        preValidation: requireRole('analyst'),
      },
      async (request) => inc.update(actorOf(request), request.params.id, request.body),
    );

    app.post<Id & { Body: { campaignIds: string[] } }>(
      '/incidents/:id/campaigns',
      {
        schema: routeSchema('linkIncidentCampaigns', 'Add campaigns to an incident whose first report is a draft', 'analyst', {
          description: `Needs the analyst role. ${ONE_INCIDENT_PER_CAMPAIGN}`,
          params: IdParams,
          body: Type.Object({ campaignIds: CampaignIds }, { additionalProperties: false }),
          response: { 200: View },
        }),
        preValidation: requireRole('analyst'),
      },
      async (request) => inc.linkCampaigns(actorOf(request), request.params.id, request.body.campaignIds),
    );

    app.put<{ Params: Static<typeof PhaseParams>; Body: Static<typeof FieldsPatch> }>(
      '/incidents/:id/phases/:number',
      {
        schema: routeSchema('editIncidentPhase', "Edit a draft phase's judged fields (an approved phase answers 409 phase_locked)", 'analyst', {
          params: PhaseParams,
          body: FieldsPatch,
          response: { 200: View },
        }),
        preValidation: requireRole('analyst'),
      },
      async (request) => inc.editPhase(actorOf(request), request.params.id, Number(request.params.number), request.body),
    );

    const move = (path: string, operationId: string, summary: string, run: (id: string, request: Parameters<typeof actorOf>[0]) => Promise<unknown>) =>
      app.post<Id>(
        `/incidents/:id/${path}`,
        { schema: routeSchema(operationId, summary, 'analyst', { params: IdParams, response: { 200: View } }), preValidation: requireRole('analyst') },
        async (request) => run(request.params.id, request),
      );
    move('submit', 'submitIncidentPhase', 'Send the current draft phase for review', (id, r) => inc.submit(actorOf(r), id));
    move('approve', 'approveIncidentPhase', 'Approve the phase in review: approved once two different operators approve, one of whom did not write it (not with a token another operator made, nor a password and TOTP another operator was handed: 403 forbidden)', (id, r) => {
      // The second approval is a second person's: a token someone else made (an admin, for a
      // colleague or a service account), or a sign-in whose password and TOTP an admin was handed,
      // may be in that admin's hands, and would let one person approve twice.
      if (inAnothersHands(operatorOf(r))) throw new AppError('forbidden', 'an approval needs a sign-in only you hold: your own API token, OIDC, or a password and TOTP not handed to another operator (reset the TOTP on the server: findguard operators reset-totp)');
      return inc.approve(actorOf(r), id);
    });
    move('notify', 'notifyIncident', 'approved -> notified: send the Art. 34 exposure notices', (id, r) => inc.notify(actorOf(r), id));

    app.post<Id & { Body: Static<typeof ReasonBody> }>(
      '/incidents/:id/send-back',
      {
        schema: routeSchema('sendBackIncidentPhase', 'Send the phase in review back to draft (its approvals are dropped)', 'analyst', { params: IdParams, body: ReasonBody, response: { 200: View } }),
        preValidation: requireRole('analyst'),
      },
      async (request) => inc.sendBack(actorOf(request), request.params.id, request.body.reason),
    );

    app.post<Id & { Body: Static<typeof ReasonBody> }>(
      '/incidents/:id/close',
      {
        schema: routeSchema('closeIncident', 'notified -> closed', 'analyst', { params: IdParams, body: ReasonBody, response: { 200: View } }),
        preValidation: requireRole('analyst'),
      },
      async (request) => inc.close(actorOf(request), request.params.id, request.body.reason),
    );

    app.post<Id & { Body: Static<typeof FieldsPatch> }>(
      '/incidents/:id/supplements',
      {
        schema: routeSchema('addIncidentSupplement', 'Open a supplement (a new phase) once every phase before it is approved', 'analyst', { params: IdParams, body: FieldsPatch, response: { 201: View } }),
        preValidation: requireRole('analyst'),
      },
      async (request, reply) => reply.code(201).send(await inc.supplement(actorOf(request), request.params.id, request.body)),
    );

    app.get<Id>(
      '/incidents/:id/report',
      {
        schema: routeSchema('getIncidentReport', "The regulator's report (Art. 33(3)) as generated now, unsigned", 'viewer', { params: IdParams, response: { 200: Json } }),
        preValidation: requireRole('viewer'),
      },
      async (request, reply) => reply.header('cache-control', 'no-store').send(await inc.report(request.params.id)),
    );

    app.get<Id>(
      '/incidents/:id/export.json',
      {
        schema: routeSchema('exportIncidentReportJson', 'The report signed by findguard (Ed25519 over its RFC 8785 canonical JSON), with the SHA-256 of its evidence bundle', 'viewer', {
          params: IdParams,
          response: { 200: Type.Object({ report: Json, signature: Type.Object({ alg: Type.Literal('Ed25519'), keyId: Type.String(), value: Type.String() }) }) },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request, reply) =>
        reply
          .header('cache-control', 'no-store')
          .header('content-disposition', `attachment; filename="incident-${safe(request.params.id)}.json"`)
          .send(await inc.signed(request.params.id)),
    );

    app.get<Id>(
      '/incidents/:id/export.html',
      {
        schema: routeSchema('exportIncidentReportHtml', 'The report as a printable page', 'viewer', {
          params: IdParams,
          produces: ['text/html'],
          response: { 200: { description: 'HTML', content: { 'text/html': { schema: Type.String() } } } },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request, reply) =>
        reply
          .header('content-type', 'text/html; charset=utf-8')
          .header('content-security-policy', REPORT_HTML_CSP)
          .header('cache-control', 'no-store')
          .send(await inc.html(request.params.id)),
    );

    app.get<Id>(
      '/incidents/:id/exposures.csv',
      {
        schema: routeSchema('exportIncidentExposures', 'The exposed accounts as CSV: account id, handle, phone country as stored, first/last exposed, attacker accounts, campaigns (never a number)', 'viewer', {
          params: IdParams,
          produces: ['text/csv'],
          response: { 200: { description: 'CSV', content: { 'text/csv': { schema: Type.String() } } } },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request, reply) =>
        reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="incident-${safe(request.params.id)}-exposures.csv"`)
          .header('cache-control', 'no-store')
          .send(await inc.csv(request.params.id)),
    );

    app.get<Id>(
      '/incidents/:id/evidence',
      {
        schema: routeSchema('getIncidentEvidence', 'The evidence bundle (exposures and decisions) whose canonical JSON (RFC 8785) hashes to the report\'s evidence.sha256', 'viewer', { params: IdParams, response: { 200: Json } }),
        preValidation: requireRole('viewer'),
      },
      async (request, reply) => reply.header('cache-control', 'no-store').send(await inc.evidence(request.params.id)),
    );
  };
}

function safe(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_');
}

