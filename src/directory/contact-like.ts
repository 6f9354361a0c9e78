import { normalisePhone } from './phone.js';

/** The whole id is a '+' and digits or separators: a number, valid or not. */
const PLUS_DIGITS = /^\+[0-9().\/-]+$/;
/** An E.164-length number inside a longer id ("ios-+14155550188"). */
const PLUS_NUMBER_INSIDE = /\+(?:[().\/-]*[0-9]){7}/;
/** An address inside the id: something, '@', a dotted domain. */
const EMAIL_INSIDE = /[^@]@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+/;

/**
 * Whether a device id is, or holds, a phone number or an email address. Device ids are stored
 * verbatim (a discovery call's X-Device-Id in lookup events, and from there in campaign graphs and
 * device decisions; a sign-up's in the account row), and findguard never stores a raw contact
 * value: an app that names the installation by the number it registered would put it there.
 * Cheap tests first, the phone library only for an international form ("00 44 ..."): this runs on
 * every discovery call.
 */
export function isContactLike(id: string): boolean {
  if (id.includes('@') && EMAIL_INSIDE.test(id)) return true;
  if (id.includes('+') && (PLUS_DIGITS.test(id) || PLUS_NUMBER_INSIDE.test(id))) return true;
  return id.startsWith('00') && normalisePhone(id).ok;
}
