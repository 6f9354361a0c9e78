import { DEFAULT_ABUSE_POLICY } from './abuse.js';
import type { Layer, Limit, Policy } from './schema.js';

const perDay = (burst: number, refill: number, extra: Partial<Limit> = {}): Limit => ({ burst, refill, per: '1d', ...extra });
const newNumbers = (id: string, subject: Layer['subject'], limits: Layer['limits'], description: string): Layer => ({
  id,
  subject,
  cost: 'new',
  limits,
  description,
});

/**
 * findguard's default. The reasoning, layer by layer:
 * - Per identity an attacker multiplies (account, device, IP, subnet, ASN, country), a budget of
 *   *new* numbers; numbers covered by the sync token are free, so re-syncs of a real address book
 *   cost a few numbers a day.
 * - A real new user's first sync (up to 5,000 numbers) passes: new accounts start with a full
 *   book's worth and refill slowly. Trusted (aged, never refused) accounts get more.
 * - Fresh accounts on hosting/datacenter networks or Tor get nothing until they are a week old:
 *   every recorded scrape (Twitter 2019, the Facebook importer) ran fresh fake accounts from
 *   servers, and any positive per-account budget multiplies by the size of the fake network.
 *   Aged accounts there (people behind a VPN) get a book's worth behind a proof-of-work on
 *   every call, once a week old.
 * - Shared layers (IP, subnet, ASN, country) are sized for carrier NAT (hundreds of people on one
 *   IPv4 address) on consumer networks, and tighter on hosting networks, where they still carry the
 *   VPN users that share an egress address.
 * - The breaker cuts low-trust callers off while the whole system's demand for new numbers is
 *   far above what it has learned, which is how a distributed scrape shows itself. New accounts
 *   keep their whole first budget even then: a real new user's first sync must pass during an
 *   attack too (in the simulator, halving it refused 0.5% of organic syncs during twitter-2019).
 */
export const DEFAULT_POLICY: Policy = {
  name: 'default',
  description: "findguard's default: layered budgets of new numbers that follow trust, and a global breaker",
  tiers: [
    // A new user whose phone keeps a VPN on calls from a hosting network too; the app's attestation of
    // the sign-up device (signup.attested) is what tells that person from a fresh account on a server.
    {
      name: 'hosting-new',
      description: 'account younger than 7 days, its sign-up device not attested by the app, calling from a hosting network or Tor',
      when: { network: ['hosting', 'tor'], accountAgeBelow: '7d', signupAttested: false },
    },
    { name: 'hosting', description: 'calling from a hosting network or Tor', when: { network: ['hosting', 'tor'] } },
    { name: 'no-phone', description: 'account without a phone number of its own', when: { noPhoneCountry: true } },
    { name: 'new', description: 'account younger than 7 days', when: { accountAgeBelow: '7d' } },
    { name: 'trusted', description: 'account older than 180 days with no refusal in the strike window', when: { accountAgeAtLeast: '180d', maxStrikes: 0 } },
    { name: 'standard', description: 'everyone else' },
  ],
  layers: [
    newNumbers('account-new', 'account', {
      'hosting-new': perDay(0, 0),
      // An aged account behind a VPN (commercial VPNs egress from hosting networks) is a person with
      // a book: a book's worth behind a proof-of-work on every call. At 50 a day a VPN user could
      // never sync a book of more than 50 numbers (a bucket that cannot hold the cost refuses), and
      // an aged account of an attacker gets the standard tier through a residential proxy anyway.
      hosting: perDay(5000, 500, { challengeBelow: 1 }),
      'no-phone': perDay(500, 100),
      new: perDay(5000, 500),
      standard: perDay(5000, 1000),
      trusted: perDay(10_000, 2000),
    }, 'new numbers per account'),
    {
      id: 'account-calls',
      subject: 'account',
      cost: 'calls',
      limits: { default: { burst: 30, refill: 60, per: '1h' }, hosting: { burst: 10, refill: 10, per: '1h' }, 'hosting-new': { burst: 10, refill: 10, per: '1h' } },
      description: 'discovery calls per account',
    },
    newNumbers('device-new', 'device', { default: perDay(10_000, 2000), hosting: perDay(5000, 1000) }, 'new numbers per device (X-Device-Id)'),
    // ~300 of a country's users on a carrier NAT address, each first sync ~400 new numbers: a launch that
    // brings them all within a day asks ~130,000 through one address and a few times that through its
    // /24 (the simulator's launch-day with surge.overDays 1 refused 132 of 5,233 first syncs at 50,000).
    newNumbers('ip-new', 'ip', { default: perDay(150_000, 150_000), hosting: perDay(10_000, 10_000), 'hosting-new': perDay(10_000, 10_000) }, 'new numbers per client IP (carrier NAT puts hundreds of people on one)'),
    newNumbers('subnet-new', 'subnet', { default: perDay(600_000, 600_000), hosting: perDay(20_000, 20_000), 'hosting-new': perDay(20_000, 20_000) }, 'new numbers per IPv4 /24 or IPv6 /64'),
    newNumbers('subnet48-new', 'subnet48', { default: perDay(500_000, 500_000), hosting: perDay(50_000, 20_000), 'hosting-new': perDay(50_000, 20_000) }, 'new numbers per IPv6 /48'),
    newNumbers('asn-new', 'asn', { default: perDay(2_000_000, 2_000_000), hosting: perDay(200_000, 200_000), 'hosting-new': perDay(200_000, 200_000) }, 'new numbers per origin network (ASN)'),
    newNumbers('country-new', 'country', { default: perDay(10_000_000, 10_000_000), hosting: perDay(500_000, 250_000), 'hosting-new': perDay(500_000, 250_000) }, 'new numbers per country of the client IP'),
  ],
  breaker: {
    description: 'when demand for new numbers is far above its learned baseline, low-trust callers are cut off',
    window: '5m',
    learnHalfLife: '1d',
    initialBaseline: 500,
    ratio: 5,
    minimum: 5000,
    hold: '30m',
    tighten: { 'hosting-new': 0, hosting: 0, 'no-phone': 0.5 },
  },
  challenge: { difficulty: { default: 18, hosting: 20, 'hosting-new': 22 }, ttl: '5m' },
  strikeWindow: '7d',
  unreadableAddress: 'refuse',
  // Enforced: checked against every simulator scenario (README, "Efficacy"). An operator who
  // wants to watch the decisions first sets mode: shadow in their own policy file.
  abuse: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' },
};

/**
 * Signal's contact discovery (CDSI public config): per account a bucket of 50,000 numbers
 * leaking 6 per hour, only numbers outside the token's previous set charged; connections 10,
 * leaking 10 per minute. Nothing per IP, network or country.
 */
export const SIGNAL_LIKE_POLICY: Policy = {
  name: 'signal-like',
  description: 'Signal CDSI: 50,000 new numbers per account, then 6 per hour; 10 calls, then 10 per minute',
  tiers: [{ name: 'all' }],
  layers: [
    { id: 'account-new', subject: 'account', cost: 'new', limits: { all: { burst: 50_000, refill: 6, per: '1h' } } },
    { id: 'account-calls', subject: 'account', cost: 'calls', limits: { all: { burst: 10, refill: 10, per: '1m' } } },
  ],
};

/**
 * Hagen et al. (NDSS 2021) incremental contact discovery: full syncs limited to 20,000 numbers per
 * 10 days, incremental syncs (with a valid token) to 20,000 per day. A single lookup is a full
 * sync of one number. (Their incremental sync also matches only against users added in the last
 * 10 days; findguard's sync answers every match among the new numbers, so only the budgets are
 * expressed here.)
 */
export const HAGEN_INCREMENTAL_POLICY: Policy = {
  name: 'hagen-incremental',
  description: 'Hagen et al.: full syncs 20,000 numbers per 10 days, incremental syncs 20,000 per day',
  tiers: [{ name: 'all' }],
  layers: [
    { id: 'full-sync', subject: 'account', cost: 'new', on: ['lookup', 'full-sync'], limits: { all: { burst: 20_000, refill: 20_000, per: '10d' } } },
    { id: 'incremental-sync', subject: 'account', cost: 'new', on: ['incremental-sync'], limits: { all: { burst: 20_000, refill: 20_000, per: '1d' } } },
  ],
};

/** No limits at all: the unprotected baseline for the simulator, and tests of other parts. */
export const NO_LIMITS_POLICY: Policy = {
  name: 'none',
  description: 'no limits: every call is answered (a baseline, never for production)',
  tiers: [{ name: 'all' }],
  layers: [],
};

export const BUILT_IN_POLICIES: Record<string, Policy> = {
  default: DEFAULT_POLICY,
  'signal-like': SIGNAL_LIKE_POLICY,
  'hagen-incremental': HAGEN_INCREMENTAL_POLICY,
  none: NO_LIMITS_POLICY,
};
