import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { AccountId } from '../directory/account-id.js';
import { NETWORKS, type CompiledPolicy } from '../policy/index.js';
import { lookupIp, type IpIntel } from '../net/index.js';
import { originOf, type LookupEvent } from './events.js';

/**
 * The context of an account's sign-up, as the app mirrors it (DESIGN §4 `signup`) resolved through
 * the IP intelligence. Lookup events do not carry it, so it reaches the abuse engine as its own
 * input; farming detection (LinkedIn's registration IP + date clusters) lives on it.
 */
export const SignupEventSchema = Type.Object(
  {
    accountId: AccountId,
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

/**
 * The sign-up event of a new account, from the context the app mirrors (`signup` on PUT
 * /internal/v1/accounts): its address reduced the way lookup events reduce theirs. Undefined when
 * the address cannot be read.
 */
export function signupEventOf(accountId: string, at: number, signup: { ip: string; deviceId?: string }, intel: IpIntel, policy: Pick<CompiledPolicy, 'networkOf'>): SignupEvent | undefined {
  const info = lookupIp(intel, signup.ip);
  if (!info) return undefined;
  const origin = originOf(signup.ip, info);
  return {
    accountId,
    at,
    ip: origin.ip,
    subnet: origin.subnet,
    ...(origin.asn !== undefined ? { asn: origin.asn } : {}),
    ...(origin.country !== undefined ? { country: origin.country } : {}),
    network: policy.networkOf(origin.ip, info),
    ...(signup.deviceId !== undefined ? { deviceId: signup.deviceId } : {}),
  };
}
