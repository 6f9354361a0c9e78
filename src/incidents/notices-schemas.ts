import { Type } from 'typebox';

/**
 * The exposure notice as the app and its user receive it (notices-content.ts ExposureNotice): the
 * response schema of `GET /v1/me/exposures`, so the route serialises exactly these fields and the
 * OpenAPI document describes them.
 */
const Time = Type.String({ format: 'date-time' });

export const ExposureNoticeSchema = Type.Object(
  {
    id: Type.String(),
    incidentId: Type.String(),
    accountId: Type.String({ description: "The notice holder's own account id" }),
    createdAt: Time,
    expiresAt: Time,
    what: Type.Object({ code: Type.Literal('discoverability_enumeration'), text: Type.String() }),
    exposure: Type.Object({
      firstAt: Time,
      lastAt: Time,
      attackerAccounts: Type.Integer({ minimum: 1, description: 'Distinct attacker accounts shown this account' }),
      revealed: Type.Array(Type.Union([Type.Literal('account_id'), Type.Literal('handle'), Type.Literal('registered_under_phone_number'), Type.Literal('registered_under_email')])),
      text: Type.String(),
    }),
    measures: Type.Object({
      attackerAccountsStopped: Type.Integer({ minimum: 0 }),
      actions: Type.Array(
        Type.Object({
          action: Type.Union([Type.Literal('suspend'), Type.Literal('challenge'), Type.Literal('throttle')]),
          accounts: Type.Integer({ minimum: 1 }),
          firstAt: Time,
          lastAt: Time,
        }),
      ),
      text: Type.String(),
    }),
    advice: Type.Object({
      discoverableBy: Type.Union([Type.Literal('everyone'), Type.Literal('contacts'), Type.Literal('nobody')]),
      steps: Type.Array(
        Type.Object({
          code: Type.Union([Type.Literal('discoverability_setting'), Type.Literal('my_contacts'), Type.Literal('unexpected_messages')]),
          text: Type.String(),
        }),
      ),
    }),
  },
  { $id: 'ExposureNotice' },
);

/** One shape for everyone: an account never exposed, or whose notices expired, gets `{"notices": []}`. */
export const OwnExposuresResponse = Type.Object({ notices: Type.Array(ExposureNoticeSchema) });

/** No query at all: nothing a caller sends can choose whose notices are read. */
export const OwnExposuresQuery = Type.Object({}, { additionalProperties: false });
