import { describe, expect, it } from 'vitest';
import { buildNotice, type NoticeFacts } from '../src/incidents/notices-content.js';

// The notice's wording and parts from its facts (unit: no database).

const T = Date.parse('2026-11-01T12:00:00Z');
const H = 3_600_000;
const base: NoticeFacts = {
  id: 'ntc_1',
  incidentId: 'inc_1',
  accountId: 'acct-1',
  createdAt: T + 72 * H,
  expiresAt: T + 72 * H + 365 * 24 * H,
  firstAt: T,
  lastAt: T + 30 * H,
  attackerAccounts: 3,
  measures: [{ action: 'suspend', accounts: 3, firstAt: T + H, lastAt: T + 31 * H }],
  discoverableBy: 'everyone',
  via: ['phone'],
  offersMyContacts: true,
};

describe('buildNotice', () => {
  it('says when, to how many, what was done and what to do, in plain words', () => {
    const n = buildNotice(base);
    expect(n.exposure).toMatchObject({ firstAt: '2026-11-01T12:00:00.000Z', lastAt: '2026-11-02T18:00:00.000Z', attackerAccounts: 3 });
    expect(n.exposure.text).toBe('Between 2026-11-01 and 2026-11-02, your account and its handle were shown to 3 accounts of that network. Nothing else about you was shown: no messages, contacts or other personal details.');
    expect(n.measures).toMatchObject({ attackerAccountsStopped: 3, actions: [{ action: 'suspend', accounts: 3, firstAt: '2026-11-01T13:00:00.000Z', lastAt: '2026-11-02T19:00:00.000Z' }] });
    expect(n.measures.text).toBe('Every one of those accounts has been suspended (between 2026-11-01 and 2026-11-02) and can no longer look anyone up.');
    expect(n.advice.steps.map((s) => s.code)).toEqual(['discoverability_setting', 'my_contacts', 'unexpected_messages']);
    expect(n.advice.steps[1]!.text).toMatch(/^Choose "My contacts"/);
  });

  it('counts only the stopped accounts as stopped, and says so', () => {
    const n = buildNotice({ ...base, measures: [{ action: 'suspend', accounts: 1, firstAt: T, lastAt: T }, { action: 'throttle', accounts: 1, firstAt: T, lastAt: T }] });
    expect(n.measures.attackerAccountsStopped).toBe(1);
    expect(n.measures.text).toMatch(/^1 of those 3 accounts have been suspended \(on 2026-11-01\)/);
    const none = buildNotice({ ...base, measures: [] });
    expect(none.measures).toMatchObject({ attackerAccountsStopped: 0, actions: [] });
    expect(none.measures.text).toMatch(/^Those accounts are restricted or watched/);
  });

  it('leaves "my contacts" out where the app does not offer it or nobody can find the account, and fits the advice to the setting', () => {
    expect(buildNotice({ ...base, offersMyContacts: false }).advice.steps.map((s) => s.code)).toEqual(['discoverability_setting', 'unexpected_messages']);
    const hidden = buildNotice({ ...base, discoverableBy: 'nobody' });
    expect(hidden.advice.steps.map((s) => s.code)).toEqual(['discoverability_setting', 'unexpected_messages']);
    expect(hidden.advice.steps[0]!.text).toMatch(/^Nobody can find you/);
    expect(buildNotice({ ...base, discoverableBy: 'contacts' }).advice.steps[1]!.text).toMatch(/^Only people in your own contacts/);
  });

  it('one day reads as one day; a single attacker account as "1 account"', () => {
    const n = buildNotice({ ...base, lastAt: T + H, attackerAccounts: 1 });
    expect(n.exposure.text).toMatch(/^On 2026-11-01, your account and its handle were shown to 1 account of that network/);
  });

  it('names what the lookups asked with: a phone number, an email address, or both', () => {
    expect(buildNotice(base).exposure.revealed).toEqual(['account_id', 'handle', 'registered_under_phone_number']);
    expect(buildNotice({ ...base, via: [] }).what.text).toMatch(/Your phone number was on such a list/);
    const byEmail = buildNotice({ ...base, via: ['email'] });
    expect(byEmail.exposure.revealed).toEqual(['account_id', 'handle', 'registered_under_email']);
    expect(byEmail.what.text).toMatch(/"find people by email" feature with long lists of email addresses.*Your email address was on such a list/);
    expect(buildNotice({ ...base, via: ['email', 'phone'] }).exposure.revealed).toEqual(['account_id', 'handle', 'registered_under_phone_number', 'registered_under_email']);
  });

  it('is deterministic in its facts', () => {
    expect(JSON.stringify(buildNotice(base))).toBe(JSON.stringify(buildNotice({ ...base })));
  });
});
