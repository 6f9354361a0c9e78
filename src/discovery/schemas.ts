import { Type, type Static } from 'typebox';
import { MAX_PREVIOUS_VALUES, MAX_SYNC_VALUES } from '../protocol/index.js';

const Region = Type.String({ pattern: '^[A-Z]{2}$', description: 'Default region (ISO 3166-1 alpha-2) for numbers without +CC' });
// Control characters are never part of a number or address; refusing them keeps logs and tokens clean.
const PhoneInput = Type.String({ minLength: 1, maxLength: 64 });
const EmailInput = Type.String({ minLength: 1, maxLength: 254 });


export const LookupBody = Type.Object(
  {
    phone: Type.Optional(PhoneInput),
    email: Type.Optional(EmailInput),
    region: Type.Optional(Region),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type LookupBody = Static<typeof LookupBody>;

const MatchObject = Type.Object({ accountId: Type.String(), handle: Type.String() });
export const LookupResponse = Type.Object({ match: Type.Union([MatchObject, Type.Null()]) });

export const SyncBody = Type.Object(
  {
    region: Type.Optional(Region),
    contacts: Type.Optional(Type.Array(PhoneInput, { maxItems: MAX_SYNC_VALUES, description: 'Phone numbers not sent before' })),
    emails: Type.Optional(Type.Array(EmailInput, { maxItems: MAX_SYNC_VALUES, description: 'Email addresses not sent before' })),
    previous: Type.Optional(
      Type.Object(
        {
          token: Type.String({ minLength: 1, maxLength: 128 }),
          contacts: Type.Optional(Type.Array(PhoneInput, { maxItems: MAX_PREVIOUS_VALUES })),
          emails: Type.Optional(Type.Array(EmailInput, { maxItems: MAX_PREVIOUS_VALUES })),
        },
        { additionalProperties: false, description: "The last sync's set, exactly as sent, and its token" },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SyncBody = Static<typeof SyncBody>;

const IndexedMatch = Type.Object({ index: Type.Integer(), accountId: Type.String(), handle: Type.String() });
export const SyncResponse = Type.Object({
  matches: Type.Array(IndexedMatch, { description: 'Matches among contacts (or emails), by index' }),
  previousMatches: Type.Array(IndexedMatch, { description: 'Matches among previous.contacts (or emails), re-checked at no cost' }),
  invalid: Type.Array(Type.Object({ index: Type.Integer(), code: Type.String() })),
  token: Type.String({ description: 'Proof of the synced set; send it with the set as previous next time' }),
});
