import { Type, type Static } from 'typebox';

const Weighted = Type.Array(Type.Object({ country: Type.String({ pattern: '^[A-Z]{2}$' }), weight: Type.Number({ minimum: 0 }) }), { minItems: 1 });

/** Fake accounts and the infrastructure they come from, shared by every attacker kind. */
const Fleet = {
  name: Type.String({ minLength: 1, maxLength: 64 }),
  accounts: Type.Integer({ minimum: 1, maximum: 100_000 }),
  /** Sign-ups spread over this many days before the attack starts (0: all at once). */
  createdOverDays: Type.Number({ minimum: 0, maximum: 365 }),
  /** Where requests come from, weighted by volume. */
  origins: Weighted,
  /** Distinct IPs per origin country. */
  ipsPerCountry: Type.Integer({ minimum: 1, maximum: 100_000 }),
  network: Type.Union([Type.Literal('hosting'), Type.Literal('residential')]),
  /** When the attack starts, in days after the scenario start. */
  startDay: Type.Number({ minimum: 0 }),
  /** Requests per account per hour while active. */
  requestsPerHour: Type.Number({ minimum: 0.001, maximum: 36_000 }),
};

export const RangeScan = Type.Object({
  kind: Type.Literal('range-scan'),
  ...Fleet,
  /** Regions whose number blocks are scanned (all if empty), and the share of their blocks. */
  regions: Type.Array(Type.String({ pattern: '^[A-Z]{2}$' })),
  blockShare: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
  batchSize: Type.Integer({ minimum: 1, maximum: 5000 }),
});

export const RandomScan = Type.Object({
  kind: Type.Literal('random-scan'),
  ...Fleet,
  /** How many random valid numbers the fleet tries in all. */
  numbers: Type.Integer({ minimum: 1 }),
  batchSize: Type.Integer({ minimum: 1, maximum: 5000 }),
});

export const ListAttack = Type.Object({
  kind: Type.Literal('list'),
  ...Fleet,
  /** Size of the list and share of it that belongs to registered accounts. */
  listSize: Type.Integer({ minimum: 1 }),
  registeredShare: Type.Number({ minimum: 0, maximum: 1 }),
  /** Accounts are aged (created long before) rather than fresh. */
  aged: Type.Boolean(),
  /** Batch sizes look organic: median of a log-normal. */
  batchMedian: Type.Integer({ minimum: 1, maximum: 5000 }),
  /** The list is worked through over this many days. */
  overDays: Type.Number({ exclusiveMinimum: 0 }),
  singleLookups: Type.Boolean(),
  /**
   * Each account asks only the list's numbers of its own country, from that country (phone and
   * address): an attacker who knows a batch scattered over many countries gives it away. The
   * fleet's origins then follow the list's countries, not `origins`.
   */
  byCountry: Type.Optional(Type.Boolean()),
});

export const AccountFarm = Type.Object({
  kind: Type.Literal('account-farm'),
  ...Fleet,
  /** Sign-ups arrive in bursts of this many minutes. */
  burstMinutes: Type.Number({ exclusiveMinimum: 0 }),
  /** Lookups each farmed account tries after sign-up. */
  lookupsPerAccount: Type.Integer({ minimum: 1 }),
});

export const OracleProbe = Type.Object({
  kind: Type.Literal('oracle-probe'),
  ...Fleet,
  /** Probes per class of number (unregistered, undiscoverable, 2FA-only, suspended). */
  samplesPerClass: Type.Integer({ minimum: 10, maximum: 100_000 }),
});

export const AttackerSpec = Type.Union([RangeScan, RandomScan, ListAttack, AccountFarm, OracleProbe]);
export type AttackerSpec = Static<typeof AttackerSpec>;

export const OrganicSpec = Type.Object({
  /** Share of existing accounts that sync (or re-sync) on a given day. */
  syncShare: Type.Number({ minimum: 0, maximum: 1 }),
  /** Share of existing accounts that make single lookups on a given day, and how many. */
  lookupShare: Type.Number({ minimum: 0, maximum: 1 }),
  lookupsPerUser: Type.Number({ minimum: 0 }),
  /**
   * Caps on the organic users simulated per day. Harm is a rate, so a large population is measured
   * on a sample of its users; the caps keep a million-account run to minutes.
   */
  maxSyncsPerDay: Type.Integer({ minimum: 0 }),
  maxLookupsPerDay: Type.Integer({ minimum: 0 }),
  /** Address books: log-normal size with this median, capped. */
  bookMedian: Type.Integer({ minimum: 1 }),
  bookMax: Type.Integer({ minimum: 1, maximum: 20_000 }),
  /** Share of a book's entries that are accounts on the platform. */
  memberShare: Type.Number({ minimum: 0, maximum: 1 }),
  /** Accounts behind one carrier-grade NAT IPv4 address. */
  accountsPerCgnatIp: Type.Integer({ minimum: 1 }),
  ipv6Share: Type.Number({ minimum: 0, maximum: 1 }),
  travellerShare: Type.Number({ minimum: 0, maximum: 1 }),
  sharedDeviceShare: Type.Number({ minimum: 0, maximum: 1 }),
});
export type OrganicSpec = Static<typeof OrganicSpec>;

export const ScenarioSpec = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    description: Type.String(),
    seed: Type.Integer({ minimum: 0 }),
    start: Type.String({ format: 'date-time' }),
    days: Type.Number({ exclusiveMinimum: 0, maximum: 90 }),
    population: Type.Object({
      /** Accounts that exist at the start; new ones join during the run at the platform's growth rate. */
      accounts: Type.Integer({ minimum: 100, maximum: 20_000_000 }),
      discoverableShare: Type.Number({ minimum: 0, maximum: 1 }),
      occupancy: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    }),
    organic: OrganicSpec,
    attackers: Type.Array(AttackerSpec),
  },
  { additionalProperties: false },
);
export type ScenarioSpec = Static<typeof ScenarioSpec>;
