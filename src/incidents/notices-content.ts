/**
 * What one exposed person is told (GDPR Art. 34(2): the nature of the breach in clear and plain
 * language, its likely consequences, the measures taken, what they can do, and whom to ask). Built
 * from the account's own exposure records only: counts and times of the attacker accounts that saw
 * it, never their ids or handles, and never a phone number or email (findguard holds none). Each
 * part carries a code for the app to translate and an English text it may show as is.
 */

/** Who can find the account by its number today: its own discoverable contact points' setting. */
export type DiscoverableBy = 'everyone' | 'contacts' | 'nobody';

export interface NoticeMeasure {
  /** The strongest restriction standing on each attacker account, counted once per account. */
  action: 'suspend' | 'challenge' | 'throttle';
  accounts: number;
  firstAt: string;
  lastAt: string;
}

export interface ExposureNotice {
  id: string;
  incidentId: string;
  /** The notice holder: the app's own account id, so its backend knows whom to show or mail it to. */
  accountId: string;
  createdAt: string;
  /** After this the notice is no longer served or kept. */
  expiresAt: string;
  what: { code: 'discoverability_enumeration'; text: string };
  exposure: {
    /** When the account was first shown to one of the attacker accounts. */
    firstAt: string;
    /** When it was last shown to one of them (from the lookup records still kept, else the last first showing). */
    lastAt: string;
    /** How many distinct attacker accounts were shown it. */
    attackerAccounts: number;
    /** What each of them learned. */
    revealed: Array<'account_id' | 'handle' | 'registered_under_phone_number' | 'registered_under_email'>;
    text: string;
  };
  measures: {
    /** Attacker accounts that were shown this account and are now stopped (suspended). */
    attackerAccountsStopped: number;
    actions: NoticeMeasure[];
    text: string;
  };
  advice: {
    /** The account's discoverability setting when the notice was written. */
    discoverableBy: DiscoverableBy;
    steps: Array<{ code: 'discoverability_setting' | 'my_contacts' | 'unexpected_messages'; text: string }>;
  };
}

export interface NoticeFacts {
  id: string;
  incidentId: string;
  accountId: string;
  createdAt: number;
  expiresAt: number;
  firstAt: number;
  lastAt: number;
  attackerAccounts: number;
  measures: Array<{ action: NoticeMeasure['action']; accounts: number; firstAt: number; lastAt: number }>;
  discoverableBy: DiscoverableBy;
  /** What the lookups that revealed the account asked with (from the lookup records kept); empty: phone. */
  via: ReadonlyArray<'phone' | 'email'>;
  /** The app lets its users choose "my contacts" (configuration); without it that step is left out. */
  offersMyContacts: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const day = (ms: number): string => iso(ms).slice(0, 10);
const accounts = (n: number): string => (n === 1 ? '1 account' : `${n} accounts`);

/** The notice for one account; deterministic in its facts, so a test can rebuild it. */
export function buildNotice(f: NoticeFacts): ExposureNotice {
  const email = f.via.includes('email');
  const phone = f.via.includes('phone') || !email;
  const feature = phone && email ? 'phone number or email' : email ? 'email' : 'phone number';
  const lists = phone && email ? 'numbers and addresses' : email ? 'email addresses' : 'numbers';
  const yours = phone && email ? 'phone number and email address' : email ? 'email address' : 'phone number';
  const span = day(f.firstAt) === day(f.lastAt) ? `on ${day(f.firstAt)}` : `between ${day(f.firstAt)} and ${day(f.lastAt)}`;
  const suspended = f.measures.find((m) => m.action === 'suspend');
  const stopped = suspended?.accounts ?? 0;
  const measuresText =
    suspended && stopped >= f.attackerAccounts
      ? `Every one of those accounts has been suspended (${suspendedSpan(suspended)}) and can no longer look anyone up.`
      : suspended && stopped > 0
        ? `${stopped} of those ${accounts(f.attackerAccounts)} have been suspended (${suspendedSpan(suspended)}); the others are restricted or watched, and we keep blocking this kind of search.`
        : 'Those accounts are restricted or watched, and we keep blocking this kind of search.';
  const steps: ExposureNotice['advice']['steps'] = [];
  steps.push({
    code: 'discoverability_setting',
    text:
      f.discoverableBy === 'nobody'
        ? 'Nobody can find you by your phone number now. You can keep it that way in your privacy settings.'
        : 'You choose who can find you by your phone number in your privacy settings; you can turn it off.',
  });
  if (f.offersMyContacts && f.discoverableBy !== 'nobody') {
    steps.push({
      code: 'my_contacts',
      text:
        f.discoverableBy === 'contacts'
          ? 'Only people in your own contacts can find you by your number: someone holding a list of numbers cannot.'
          : 'Choose "My contacts" so that only people whose numbers you have saved can find you by your number: someone holding a list of numbers then cannot.',
    });
  }
  steps.push({
    code: 'unexpected_messages',
    text: 'Be careful with unexpected messages or calls, including ones that seem to come from us: do not share codes, passwords or payment details, and do not open links you did not expect.',
  });
  return {
    id: f.id,
    incidentId: f.incidentId,
    accountId: f.accountId,
    createdAt: iso(f.createdAt),
    expiresAt: iso(f.expiresAt),
    what: {
      code: 'discoverability_enumeration',
      text:
        `A network of fake accounts used the "find people by ${feature}" feature with long lists of ${lists} to learn who uses the app. ` +
        `Your ${yours} was on such a list and your account was discoverable by it, so they learned that it belongs to your account.`,
    },
    exposure: {
      firstAt: iso(f.firstAt),
      lastAt: iso(f.lastAt),
      attackerAccounts: f.attackerAccounts,
      revealed: ['account_id', 'handle', ...(phone ? (['registered_under_phone_number'] as const) : []), ...(email ? (['registered_under_email'] as const) : [])],
      text: `${span.charAt(0).toUpperCase()}${span.slice(1)}, your account and its handle were shown to ${accounts(f.attackerAccounts)} of that network. Nothing else about you was shown: no messages, contacts or other personal details.`,
    },
    measures: {
      attackerAccountsStopped: stopped,
      actions: f.measures.map((m) => ({ action: m.action, accounts: m.accounts, firstAt: iso(m.firstAt), lastAt: iso(m.lastAt) })),
      text: measuresText,
    },
    advice: { discoverableBy: f.discoverableBy, steps },
  };
}

function suspendedSpan(m: { firstAt: number; lastAt: number }): string {
  return day(m.firstAt) === day(m.lastAt) ? `on ${day(m.firstAt)}` : `between ${day(m.firstAt)} and ${day(m.lastAt)}`;
}
