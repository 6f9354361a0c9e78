import type { OrganicSpec, ScenarioSpec } from './scenario.js';
import { adaptedScenarios } from './scenarios-adapted.js';

export const DEFAULT_ORGANIC: OrganicSpec = {
  syncShare: 0.005,
  lookupShare: 0.01,
  lookupsPerUser: 2,
  maxSyncsPerDay: 2000,
  maxLookupsPerDay: 5000,
  bookMedian: 200,
  bookMax: 5000,
  memberShare: 0.35,
  accountsPerCgnatIp: 300,
  ipv6Share: 0.35,
  travellerShare: 0.02,
  sharedDeviceShare: 0.03,
  // International users at the published migrant and student shares (international.ts, UN DESA 2024).
  internationalScale: 1,
  // Assumptions, not statistics: 3% of people in a country with a listed land neighbour keep
  // 10-40% of their book across it; 15% of the rest have a few relatives (2-8% of the book) abroad.
  borderShare: 0.03,
  familyAbroadShare: 0.15,
  // A new phone every ~2.5 years plus reinstalls, against ~1.8 syncs a year per user at syncShare:
  // about one sync in five sends the whole book without a token.
  reinstallShare: 0.2,
  // A second device that syncs the book (a second phone, a tablet) for a quarter of people, a third for 5%.
  secondDeviceShare: 0.25,
  thirdDeviceShare: 0.05,
};

const base = (name: string, description: string, days: number): ScenarioSpec => ({
  name,
  description,
  seed: 20191224,
  start: '2026-01-05T00:00:00Z',
  days,
  population: { accounts: 100_000, discoverableShare: 0.6, occupancy: 0.35 },
  organic: { ...DEFAULT_ORGANIC },
  attackers: [],
});

/** Origins of Twitter's 2019 network: most volume from IR, MY and IL, the rest from 8 more. */
const TWITTER_2019_ORIGINS = [
  { country: 'IR', weight: 0.25 },
  { country: 'MY', weight: 0.2 },
  { country: 'IL', weight: 0.2 },
  { country: 'RU', weight: 0.05 },
  { country: 'TR', weight: 0.05 },
  { country: 'VN', weight: 0.05 },
  { country: 'ID', weight: 0.05 },
  { country: 'EG', weight: 0.04 },
  { country: 'PK', weight: 0.04 },
  { country: 'UA', weight: 0.04 },
  { country: 'BR', weight: 0.03 },
];

export const BUILT_IN_SCENARIOS: Record<string, () => ScenarioSpec> = {
  'organic-only': () => base('organic-only', 'The baseline population and nothing else: the false-positive yardstick.', 7),
  'launch-day': () => {
    const spec = base(
      'launch-day',
      "The app launches in Mexico: the country's users (5% of the population) arrive within three days, most on the first, each signing up and syncing a whole address book (up to 5,000 numbers) from the country's carrier NATs. No attacker: every refusal is harm.",
      7,
    );
    spec.organic.surge = { country: 'MX', startDay: 1, overDays: 3 };
    return spec;
  },
  'twitter-2019': () => ({
    ...base('twitter-2019', 'A network of 1,200 fake accounts created over four days, from hosting addresses in 11 countries (most from Iran, Malaysia and Israel), scanning consecutive number ranges split among the accounts.', 7),
    attackers: [
      {
        kind: 'range-scan',
        name: 'twitter-2019',
        accounts: 1200,
        createdOverDays: 4,
        origins: TWITTER_2019_ORIGINS,
        ipsPerCountry: 12,
        network: 'hosting',
        startDay: 1,
        requestsPerHour: 30,
        regions: [],
        blockShare: 0.5,
        batchSize: 50,
      },
    ],
  }),
  'facebook-importer': () => ({
    ...base('facebook-importer', 'A few accounts uploading maximal address books (5,000 numbers) of random valid numbers, as the contact-importer scrapes did.', 7),
    attackers: [
      {
        kind: 'random-scan',
        name: 'facebook-importer',
        accounts: 5,
        createdOverDays: 1,
        origins: [{ country: 'US', weight: 1 }, { country: 'DE', weight: 1 }],
        ipsPerCountry: 3,
        network: 'hosting',
        startDay: 1,
        requestsPerHour: 20,
        numbers: 200_000,
        batchSize: 5000,
      },
    ],
  }),
  'leaked-list': () => ({
    ...base('leaked-list', 'A leaked list of 20,000 real numbers (80% registered), shuffled and split across 40 aged accounts on residential addresses, in organic-looking batches over 30 days.', 30),
    attackers: [
      {
        kind: 'list',
        name: 'leaked-list',
        accounts: 40,
        createdOverDays: 0,
        origins: [{ country: 'US', weight: 3 }, { country: 'GB', weight: 1 }, { country: 'IN', weight: 2 }, { country: 'BR', weight: 1 }],
        ipsPerCountry: 40,
        network: 'residential',
        startDay: 0,
        requestsPerHour: 1,
        listSize: 20_000,
        registeredShare: 0.8,
        aged: true,
        batchMedian: 150,
        overDays: 30,
        singleLookups: false,
      },
    ],
  }),
  'leaked-list-by-country': () => {
    const spec = BUILT_IN_SCENARIOS['leaked-list']!();
    return {
      ...spec,
      name: 'leaked-list-by-country',
      description:
        'The same leaked list, worked by an attacker who knows the scatter rule: each of the 40 aged accounts has a phone and a residential address in one of the list\'s countries and asks only that country\'s numbers.',
      attackers: spec.attackers.map((a) => (a.kind === 'list' ? { ...a, name: 'leaked-list-by-country', byCountry: true } : a)),
    };
  },
  targeted: () => ({
    ...base('targeted', 'One patient attacker with an aged account and a list of 500 target numbers, looked up one at a time over five days.', 7),
    attackers: [
      {
        kind: 'list',
        name: 'targeted',
        accounts: 1,
        createdOverDays: 0,
        origins: [{ country: 'GB', weight: 1 }],
        ipsPerCountry: 1,
        network: 'residential',
        startDay: 1,
        requestsPerHour: 1,
        listSize: 500,
        registeredShare: 0.9,
        aged: true,
        batchMedian: 1,
        overDays: 5,
        singleLookups: true,
      },
    ],
  }),
  'account-farm': () => ({
    ...base('account-farm', 'Mass creation of 2,000 accounts in bursts from a few hosting addresses with shared devices, each looking numbers up right after sign-up.', 7),
    attackers: [
      {
        kind: 'account-farm',
        name: 'account-farm',
        accounts: 2000,
        createdOverDays: 2,
        origins: [{ country: 'VN', weight: 1 }, { country: 'ID', weight: 1 }, { country: 'IN', weight: 1 }],
        ipsPerCountry: 8,
        network: 'hosting',
        startDay: 1,
        requestsPerHour: 30,
        burstMinutes: 10,
        lookupsPerAccount: 20,
      },
    ],
  }),
  'oracle-probe': () => ({
    ...base('oracle-probe', 'Tries every endpoint and parameter variation on numbers of known classes to learn whether a non-discoverable number is registered.', 2),
    attackers: [
      {
        kind: 'oracle-probe',
        name: 'oracle-probe',
        accounts: 1,
        createdOverDays: 0,
        origins: [{ country: 'NL', weight: 1 }],
        ipsPerCountry: 1,
        network: 'hosting',
        startDay: 1,
        requestsPerHour: 1,
        samplesPerClass: 200,
      },
    ],
  }),
  ...adaptedScenarios(base),
};
