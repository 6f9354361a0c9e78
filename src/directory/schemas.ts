import { Type, type Static } from 'typebox';
import { AccountId } from './account-id.js';
import { DISCOVERABLE_BY } from './discoverability.js';
import { PURPOSES } from './purposes.js';
import { TextLine } from '../util/text.js';

/**
 * The directory's input shapes: one source for request validation, TypeScript types, the
 * OpenAPI document and the NDJSON import's per-line check.
 */
export { AccountId };
export const Region = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2 region' });
export const PurposeSchema = Type.Union(PURPOSES.map((p) => Type.Literal(p)));
// An address as src/net/client-address.ts reads it (brackets, a port or a zone included), which
// toAccountInput then checks and makes canonical.
export const IpAddress = Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' });

export const SignupContext = Type.Object(
  {
    ip: IpAddress,
    deviceId: Type.Optional(TextLine({ minLength: 1, maxLength: 128 })),
    userAgent: Type.Optional(TextLine({ maxLength: 512 })),
    attested: Type.Optional(
      Type.Boolean({
        description:
          "The app verified the sign-up came from a genuine device and app (Play Integrity, App Attest or its own check). The default policy gives an attested new account on a hosting network (a phone behind a VPN) the hosting tier's budget behind a proof-of-work, not the new-on-hosting tier's none",
      }),
    ),
  },
  { additionalProperties: false },
);

export const AccountBody = Type.Object(
  {
    handle: TextLine({ minLength: 1, maxLength: 64 }),
    createdAt: Type.Optional(Type.String({ format: 'date-time' })),
    phoneRegion: Type.Optional(Type.Union([Region, Type.Null()])),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
    signup: Type.Optional(SignupContext),
  },
  { additionalProperties: false },
);
export type AccountBody = Static<typeof AccountBody>;

export const DiscoverableBySchema = Type.Union(
  DISCOVERABLE_BY.map((v) => Type.Literal(v)),
  {
    description:
      'Who may find this point: everyone; contacts (only callers whose own verified phone is in this account\'s latest synced address book; nobody until it syncs); nobody. Sets or clears the discovery purpose; without it, the discovery purpose means everyone.',
  },
);

// Empty is allowed: a number the owner keeps on the account for none of these (discovery turned off).
const Purposes = Type.Array(PurposeSchema, { minItems: 0, maxItems: 3, uniqueItems: true });

export const ContactPointBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('phone'), Type.Literal('email')]),
    value: Type.String({ minLength: 1, maxLength: 254 }),
    region: Type.Optional(Region),
    purposes: Purposes,
    verified: Type.Boolean(),
    discoverableBy: Type.Optional(DiscoverableBySchema),
  },
  { additionalProperties: false },
);
export type ContactPointBody = Static<typeof ContactPointBody>;

export const ContactPointPatch = Type.Object(
  { purposes: Type.Optional(Purposes), verified: Type.Optional(Type.Boolean()), discoverableBy: Type.Optional(DiscoverableBySchema) },
  { additionalProperties: false, minProperties: 1 },
);
export type ContactPointPatch = Static<typeof ContactPointPatch>;

/** One NDJSON import line: an account and (some of) its contact points. */
export const ImportLine = Type.Object(
  {
    accountId: AccountId,
    handle: TextLine({ minLength: 1, maxLength: 64 }),
    createdAt: Type.Optional(Type.String({ format: 'date-time' })),
    phoneRegion: Type.Optional(Type.Union([Region, Type.Null()])),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
    signup: Type.Optional(SignupContext),
    contactPoints: Type.Optional(Type.Array(ContactPointBody, { maxItems: 100 })),
  },
  { additionalProperties: false },
);
export type ImportLine = Static<typeof ImportLine>;
