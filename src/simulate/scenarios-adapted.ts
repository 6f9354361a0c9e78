import type { ScenarioSpec } from './scenario.js';

/**
 * Attackers who have read the README (issue 15 point 1). Each is also a scenario file under
 * scenarios/ (test/simulate-adapted.test.ts keeps the two equal), so a variant is a copy of the
 * file with a knob turned: agedDays, accountsPerDevice, ownNumbersDiscoverable, mutualContacts,
 * batch sizes, startDay (the start delay) and hashRate.
 */
export function adaptedScenarios(base: (name: string, description: string, days: number) => ScenarioSpec): Record<string, () => ScenarioSpec> {
  return {
    'residential-aged': () => ({
      ...base(
        'residential-aged',
        'A residential proxy network of 300 accounts aged 30-60 days (past the new-account tier), one device and one address per account, scanning number ranges in batches of 40 consecutive numbers: under the dense-run denial (50) and paying the proof-of-work the challenge threshold (20) asks.',
        7,
      ),
      attackers: [
        {
          kind: 'range-scan',
          name: 'residential-aged',
          accounts: 300,
          createdOverDays: 0,
          agedDays: 30,
          accountsPerDevice: 1,
          origins: [{ country: 'US', weight: 3 }, { country: 'GB', weight: 1 }, { country: 'DE', weight: 1 }, { country: 'BR', weight: 1 }, { country: 'IN', weight: 2 }],
          ipsPerCountry: 300,
          network: 'residential',
          startDay: 1,
          requestsPerHour: 20,
          regions: [],
          blockShare: 0.25,
          batchSize: 40,
        },
      ],
    }),
    'census-2025': () => ({
      ...base(
        'census-2025',
        'The 2025 WhatsApp census pattern: five long-lived sessions on one network, each sending the next maximal batch (5,000 numbers) as soon as the last is answered, over every number block of the population.',
        3,
      ),
      attackers: [
        {
          kind: 'random-scan',
          name: 'census-2025',
          accounts: 5,
          createdOverDays: 0,
          agedDays: 365,
          accountsPerDevice: 1,
          ownNumbersDiscoverable: true,
          origins: [{ country: 'AT', weight: 1 }],
          ipsPerCountry: 2,
          network: 'residential',
          startDay: 1,
          requestsPerHour: 36_000,
          numbers: 1_000_000,
          batchSize: 5000,
        },
      ],
    }),
    sleepers: () => ({
      ...base(
        'sleepers',
        "50 sleeper accounts created over the two weeks before the attack (day 21), each with its own discoverable number, device and residential address, syncing 8 fleet-mates' numbers daily from sign-up to look social, then working a leaked list by country in organic-looking batches.",
        30,
      ),
      attackers: [
        {
          kind: 'list',
          name: 'sleepers',
          accounts: 50,
          createdOverDays: 14,
          accountsPerDevice: 1,
          ownNumbersDiscoverable: true,
          mutualContacts: 8,
          origins: [{ country: 'US', weight: 1 }],
          ipsPerCountry: 50,
          network: 'residential',
          startDay: 21,
          requestsPerHour: 1,
          listSize: 20_000,
          registeredShare: 0.8,
          aged: false,
          batchMedian: 100,
          overDays: 8,
          singleLookups: false,
          byCountry: true,
        },
      ],
    }),
    'slow-drip': () => {
      const spec = base(
        'slow-drip',
        'A leaked list of 20,000 numbers worked by country over 88 days by 40 accounts aged 200-400 days (trusted tier), each with its own number, device and residential address, a batch of ~20 numbers at a time.',
        90,
      );
      // Ninety days of organic traffic at the usual caps would dominate the run; harm is a rate.
      spec.organic.maxSyncsPerDay = 300;
      spec.organic.maxLookupsPerDay = 500;
      spec.attackers = [
        {
          kind: 'list',
          name: 'slow-drip',
          accounts: 40,
          createdOverDays: 0,
          agedDays: 200,
          accountsPerDevice: 1,
          ownNumbersDiscoverable: true,
          origins: [{ country: 'US', weight: 1 }],
          ipsPerCountry: 40,
          network: 'residential',
          startDay: 1,
          requestsPerHour: 1,
          listSize: 20_000,
          registeredShare: 0.8,
          aged: true,
          batchMedian: 20,
          overDays: 88,
          singleLookups: false,
          byCountry: true,
        },
      ];
      return spec;
    },
  };
}
