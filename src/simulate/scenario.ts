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
  /**
   * Attacker knobs (all optional). agedDays: the accounts were created between agedDays and
   * twice that before the scenario start (past the new-account tier at 7 days), instead of over
   * createdOverDays before the attack.
   */
  agedDays: Type.Optional(Type.Number({ minimum: 0, maximum: 3650 })),
  /** Device sharing: accounts per device id (default 5, as farms run them; 1: a device per account). */
  accountsPerDevice: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  /** Each account has a verified phone of its own in its country, discoverable by anyone. */
  ownNumbersDiscoverable: Type.Optional(Type.Boolean()),
  /**
   * Mutual syncs inside the fleet: each account keeps this many fleet-mates' numbers in its book
   * and syncs them after sign-up and daily until the attack starts, to look social (needs
   * ownNumbersDiscoverable to find anyone).
   */
  mutualContacts: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  /**
   * SHA-256 hashes per second each account's device spends on proof-of-work: in-process, a
   * challenge costs the account its expected solving time in simulated time (default
   * SIMULATED_HASH_RATE, measured on a 2-core VM with node:crypto).
   */
  hashRate: Type.Optional(Type.Number({ minimum: 1, maximum: 1e12 })),
  /**
   * The app attests the fleet's sign-ups (signup.attested): devices that pass its integrity check,
   * as a farm of real phones does. Default false: emulators and servers, as every recorded scrape ran.
   */
  attestedSignups: Type.Optional(Type.Boolean()),
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
  /** A country's IPv4 users behind each of its carriers' NAT addresses (a carrier's addresses run up to 16 to a /24). */
  accountsPerCgnatIp: Type.Integer({ minimum: 1 }),
  ipv6Share: Type.Number({ minimum: 0, maximum: 1 }),
  travellerShare: Type.Number({ minimum: 0, maximum: 1 }),
  sharedDeviceShare: Type.Number({ minimum: 0, maximum: 1 }),
  /**
   * International users (international.ts): multiplies the published migrant and student shares
   * of each country (1: as published, 0: everyone domestic). Absent fields take DEFAULT_ORGANIC's.
   */
  internationalScale: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
  /** Share of residents of a country with a listed land neighbour whose book reaches across it. */
  borderShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /** Share of (non-migrant) users with a few relatives among their country's emigrants. */
  familyAbroadShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /** Share of a day's syncs that come from a reinstalled app or a new phone: the whole book, no token. */
  reinstallShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /** Shares of people with a second (and a third) device that syncs the book under its own id. */
  secondDeviceShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  thirdDeviceShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /**
   * Share of people whose phone keeps a commercial VPN on, so every call of theirs comes from a
   * hosting network of their country. An assumption, not a statistic (surveys count monthly VPN
   * users, ~1 in 4 internet users, not always-on ones); 0 unless a scenario file sets it.
   */
  vpnShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  /**
   * A VPN's egress address carries many of its customers at once: this many of a country's VPN users
   * share each one (an assumption: no provider publishes it, and only this app's users count).
   */
  vpnUsersPerEgress: Type.Optional(Type.Integer({ minimum: 1 })),
  /**
   * Launch day: the country's accounts arrive within `overDays` from `startDay` instead of existing
   * before the run (most early), each signing up and syncing its whole book (up to bookMax).
   */
  surge: Type.Optional(
    Type.Object(
      {
        country: Type.String({ pattern: '^[A-Z]{2}$' }),
        startDay: Type.Number({ minimum: 0 }),
        overDays: Type.Number({ exclusiveMinimum: 0, maximum: 30 }),
        /**
         * How arrivals spread over those days: early (the default: most on the first day, arrival at
         * overDays * u^2) or ramp (word spreading: the rate grows to its peak on the last day, arrival
         * at overDays * sqrt(u), as Signal's sign-ups in January 2021 grew for days).
         */
        shape: Type.Optional(Type.Union([Type.Literal('early'), Type.Literal('ramp')])),
      },
      { additionalProperties: false },
    ),
  ),
});
export type OrganicSpec = Static<typeof OrganicSpec>;

/** The organic model's assumptions where a scenario file leaves them out (see DEFAULT_ORGANIC for why). */
export const ORGANIC_MODEL_DEFAULTS = {
  internationalScale: 1,
  borderShare: 0.03,
  familyAbroadShare: 0.15,
  reinstallShare: 0.2,
  secondDeviceShare: 0.25,
  thirdDeviceShare: 0.05,
  vpnShare: 0,
  vpnUsersPerEgress: 100,
} as const;

export type FullOrganicSpec = OrganicSpec & { -readonly [K in keyof typeof ORGANIC_MODEL_DEFAULTS]: number };

export function organicWithDefaults(o: OrganicSpec): FullOrganicSpec {
  return { ...ORGANIC_MODEL_DEFAULTS, ...o };
}

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
      /** Share of the discoverable users in "my contacts" mode (default 0.05, world.ts). */
      contactsShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    }),
    organic: OrganicSpec,
    attackers: Type.Array(AttackerSpec),
  },
  { additionalProperties: false },
);
export type ScenarioSpec = Static<typeof ScenarioSpec>;
