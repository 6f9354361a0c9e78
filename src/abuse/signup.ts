import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { NETWORKS } from '../limits/policy/schema.js';
import type { LookupEvent } from './events.js';

/**
 * The context of an account's sign-up, as the app mirrors it (DESIGN §4 `signup`) resolved through
 * the IP intelligence. Lookup events do not carry it, so it reaches the abuse engine as its own
 * input; farming detection (LinkedIn's registration IP + date clusters) lives on it.
 */
export const SignupEventSchema = Type.Object(
  {
    accountId: Type.String({ minLength: 1, maxLength: 128 }),
    /** Epoch ms of the sign-up (the account's createdAt). */
    at: Type.Integer({ minimum: 0 }),
    ip: Type.String({ minLength: 2, maxLength: 45 }),
    subnet: Type.String({ minLength: 2, maxLength: 64 }),
    asn: Type.Optional(Type.Integer({ minimum: 0, maximum: 4_294_967_295 })),
    country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
    network: Type.Optional(Type.Enum(NETWORKS)),
    deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type SignupEvent = Static<typeof SignupEventSchema>;

const checkSignup = Compile(SignupEventSchema);

export function isSignupEvent(value: unknown): value is SignupEvent {
  return checkSignup.Check(value);
}

/** Everything the features and detectors observe. */
export type AbuseInput = { type: 'lookup'; event: LookupEvent } | { type: 'signup'; event: SignupEvent };
