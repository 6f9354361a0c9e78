import { isAccountId } from '../directory/account-id.js';
import { isContactLike } from '../directory/contact-like.js';
import { AppError } from '../errors.js';
import type { StandingDecision } from '../incidents/index.js';
import { normalizeIp, parseIp } from '../net/index.js';

/**
 * An operator's subject in the one form the request path matches (the forms lookup events store):
 * a decision on "203.0.113.7/24" must hit calls whose subnet reads "203.0.113.0/24", or it would
 * be a decision that does nothing.
 */
export function canonicalSubject(scope: StandingDecision['scope'], raw: string): string {
  const s = raw.trim();
  switch (scope) {
    case 'account':
      if (!isAccountId(s)) throw invalid('an account id');
      return s;
    case 'device':
      if (s.length < 1 || s.length > 128) throw invalid('a device id of 1 to 128 characters');
      // A phone number or an email address pasted here would be stored in decisions and in the
      // audit trail (which can never be rewritten) and shown to every viewer: findguard stores no
      // raw contact value. It would also match nothing, since X-Device-Id refuses such a value
      // (http/public/caller.ts). The answer names no value, as the header's refusal does.
      if (isContactLike(s)) {
        const details = [{ path: 'subject', message: 'must not be a phone number or an email address', reason: 'device_id_contact_value' }];
        throw new AppError('invalid_request', 'subject must be an opaque device id, never a phone number or an email address', details);
      }
      return s;
    case 'ip':
      if (!parseIp(s)) throw invalid('an IP address');
      return normalizeIp(s);
    case 'subnet':
      return canonicalSubnet(s);
    case 'asn': {
      const m = /^(?:AS)?([0-9]{1,10})$/i.exec(s);
      const n = m ? Number(m[1]) : NaN;
      if (!Number.isSafeInteger(n) || n > 4_294_967_295) throw invalid('an AS number (e.g. 64500 or AS64500)');
      return String(n);
    }
    case 'country':
      if (!/^[A-Za-z]{2}$/.test(s)) throw invalid('a two-letter country code');
      return s.toUpperCase();
  }
}

/** A /24 of IPv4, or a /64 or /48 of IPv6: the widths findguard counts calls by. */
function canonicalSubnet(s: string): string {
  const [addr, len, ...rest] = s.split('/');
  const p = addr === undefined || rest.length > 0 ? undefined : parseIp(addr);
  if (!p) throw invalid('a subnet such as 203.0.113.0/24 or 2001:db8:1:2::/64');
  if (p.version === 4) {
    if (len !== '24') throw invalid('an IPv4 subnet of width /24');
    return `${p.v4 >>> 24}.${(p.v4 >>> 16) & 255}.${(p.v4 >>> 8) & 255}.0/24`;
  }
  if (len !== '64' && len !== '48') throw invalid('an IPv6 subnet of width /64 or /48');
  const [w0, w1] = p.w;
  const second = len === '48' ? (w1 & 0xffff0000) >>> 0 : w1;
  // normalizeIp formats RFC 5952, as the request path's subnet64Of/subnet48Of do.
  const hex = (w: number) => [(w >>> 16).toString(16), (w & 0xffff).toString(16)];
  return `${normalizeIp([...hex(w0), ...hex(second), '0', '0', '0', '0'].join(':'))}/${len}`;
}

function invalid(what: string): AppError {
  return new AppError('invalid_request', `subject must be ${what}`);
}
