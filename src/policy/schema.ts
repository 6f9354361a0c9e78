import { Type, type Static } from 'typebox';
import { AbusePolicy } from './abuse.js';
import { AlertsPolicy } from './alerts.js';
import { DURATION_PATTERN } from './duration.js';
import { RATE_LIMIT_SCOPES, type RateLimitScope } from '../protocol/index.js';

/**
 * The limits policy: every layer, budget, trust tier, challenge and fail behaviour in one
 * registry (after Signal-Server's RateLimiters), as a JSON or YAML file or a built-in.
 * One TypeBox schema is the validation, the TypeScript type and the documentation.
 */

const Duration = Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Number({ minimum: 0 })], {
  description: 'A duration: "30s", "10m", "6h", "10d", or a number of seconds',
});
const Name = Type.String({ pattern: '^[a-z][a-z0-9-]{0,39}$' });
const Country = Type.String({ pattern: '^[A-Z]{2}$' });

export const SCOPES = RATE_LIMIT_SCOPES;
export type Scope = RateLimitScope;

/** What a layer's bucket is keyed by. subnet: the /24 of an IPv4 address or the /64 of an IPv6 one. */
export const SUBJECTS = ['account', 'device', 'ip', 'subnet', 'subnet48', 'asn', 'country'] as const;
export type Subject = (typeof SUBJECTS)[number];
const SUBJECT_SCOPE: Record<Subject, Scope> = {
  account: 'account',
  device: 'device',
  ip: 'ip',
  subnet: 'subnet',
  subnet48: 'subnet',
  asn: 'asn',
  country: 'country',
};
export function scopeOf(subject: Subject): Scope {
  return SUBJECT_SCOPE[subject];
}

/** Kinds of discovery call a layer can be limited to. A lookup is a one-number full sync. */
export const OPERATIONS = ['lookup', 'full-sync', 'incremental-sync'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const NETWORKS = ['hosting', 'tor', 'other'] as const;
export type Network = (typeof NETWORKS)[number];

export const TierCondition = Type.Object(
  {
    network: Type.Optional(Type.Array(Type.Enum(NETWORKS), { minItems: 1, uniqueItems: true })),
    accountAgeBelow: Type.Optional(Duration),
    accountAgeAtLeast: Type.Optional(Duration),
    /** The country of the account's own phone number. */
    phoneCountryIn: Type.Optional(Type.Array(Country, { minItems: 1 })),
    phoneCountryNotIn: Type.Optional(Type.Array(Country, { minItems: 1 })),
    /** The account has no phone country on record. */
    noPhoneCountry: Type.Optional(Type.Boolean()),
    /** Refusals at account or device scope in the last strike window: clean history means 0. */
    maxStrikes: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The app attested the device the account signed up from (`signup.attested` of the internal API); false also matches accounts it said nothing of. */
    signupAttested: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type TierCondition = Static<typeof TierCondition>;

export const Tier = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String()),
    /** All conditions must hold; none means every caller (the last tier must be such a catch-all). */
    when: Type.Optional(TierCondition),
  },
  { additionalProperties: false },
);
export type Tier = Static<typeof Tier>;

export const Limit = Type.Object(
  {
    /** Bucket size: what a caller may spend at once. 0 refuses every charge. */
    burst: Type.Integer({ minimum: 0 }),
    /** Tokens returned per `per` (0: the bucket never refills). */
    refill: Type.Number({ minimum: 0 }),
    per: Duration,
    /** A charge that would leave less than this share of the bucket needs a proof-of-work first (428). */
    challengeBelow: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
export type Limit = Static<typeof Limit>;

export const Layer = Type.Object(
  {
    id: Name,
    description: Type.Optional(Type.String()),
    subject: Type.Enum(SUBJECTS),
    /** new: each number outside the token-covered previous set costs 1; calls: each call costs 1. */
    cost: Type.Union([Type.Literal('new'), Type.Literal('calls')]),
    on: Type.Optional(Type.Array(Type.Enum(OPERATIONS), { minItems: 1, uniqueItems: true })),
    /** Limits by tier name; `default` for tiers not named; null: the tier is not limited here. */
    limits: Type.Record(Name, Type.Union([Limit, Type.Null()])),
    /** Count what would be refused (metrics, logs) but let it through. */
    shadow: Type.Optional(Type.Boolean()),
    /** When the limits store cannot be reached: closed answers 503, open lets the call through. */
    onStoreError: Type.Optional(Type.Union([Type.Literal('closed'), Type.Literal('open')])),
  },
  { additionalProperties: false },
);
export type Layer = Static<typeof Layer>;

export const Breaker = Type.Object(
  {
    description: Type.Optional(Type.String()),
    /** Demand (new numbers asked for, refused or not) is counted in windows of this length. */
    window: Duration,
    /** Half-life of the learned baseline (per window), learned only while not tripped. */
    learnHalfLife: Duration,
    /** The baseline before anything is learned, in new numbers per window. */
    initialBaseline: Type.Number({ minimum: 0 }),
    /** Trips when a window's demand exceeds ratio x baseline and `minimum`. */
    ratio: Type.Number({ exclusiveMinimum: 1 }),
    minimum: Type.Number({ minimum: 0 }),
    /** Stays tripped at least this long after the last window over the threshold. */
    hold: Duration,
    /**
     * While tripped, the share of every bucket a tier may still use (0: the tier is refused with
     * scope global; 1 or absent: unaffected).
     */
    tighten: Type.Record(Name, Type.Number({ minimum: 0, maximum: 1 })),
    shadow: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type Breaker = Static<typeof Breaker>;

export const ChallengePolicy = Type.Object(
  {
    /** Leading zero bits of SHA-256 by tier (`default` for the rest); 2^d hashes expected. */
    difficulty: Type.Record(Name, Type.Integer({ minimum: 1, maximum: 28 })),
    ttl: Duration,
  },
  { additionalProperties: false },
);
export type ChallengePolicy = Static<typeof ChallengePolicy>;

export const Policy = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String()),
    /** First match wins. */
    tiers: Type.Array(Tier, { minItems: 1 }),
    layers: Type.Array(Layer),
    breaker: Type.Optional(Breaker),
    challenge: Type.Optional(ChallengePolicy),
    /** How long a refusal at account or device scope counts against clean history. */
    strikeWindow: Type.Optional(Duration),
    /** How long a sync token is honoured (default 90d); an older one is answered like an unknown one and the book is paid for again. */
    syncTokenLifetime: Type.Optional(Duration),
    /** ASNs to treat as hosting networks beyond findguard's list and AS-name rule (e.g. a VPN provider seen in abuse). */
    hostingAsns: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 4294967295 }))),
    /** ASNs never to treat as hosting (e.g. a mobile carrier whose AS name matches the rule). */
    nonHostingAsns: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 4294967295 }))),
    /** The abuse engine's detectors, cluster scoring and action thresholds (src/policy/abuse.ts); default: built in, shadow mode. */
    abuse: Type.Optional(AbusePolicy),
    /** Incident response (src/incidents/incident-lifecycle.ts). */
    incidents: Type.Optional(
      Type.Object(
        {
          /** The engine opens an incident (draft, aware now) for a campaign once it has exposed this many accounts; unset: only operators open them. */
          openAtExposedAccounts: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Alerts to Slack and PagerDuty (src/policy/alerts.ts, src/alerts); default: none. */
    alerts: Type.Optional(AlertsPolicy),
    /** Files with Tor exit addresses, one per line (e.g. check.torproject.org/torbulkexitlist), relative to the policy file. */
    torExitLists: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /**
     * A discovery call whose client address cannot be read (src/net/client-address.ts): `refuse`
     * (default) answers 400 invalid_client_address; `hosting` answers it as the strictest network,
     * every such caller sharing one ip key, with no subnet, ASN or country to spread over.
     */
    unreadableAddress: Type.Optional(Type.Union([Type.Literal('refuse'), Type.Literal('hosting')])),
  },
  { additionalProperties: false },
);
export type Policy = Static<typeof Policy>;
