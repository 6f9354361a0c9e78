import { IpSampler, lookupIp, type OfflineIpIntel } from '../net/index.js';
import type { Random } from '../util/random.js';
import type { SeededRandom } from '../util/random.js';
import type { IpSource } from './world.js';

/**
 * The simulator's view of the offline IP data: every draw takes the caller's own seeded stream,
 * so an account's address depends on the account alone, not on the order of events.
 */
export function ipSourceFrom(intel: OfflineIpIntel): IpSource {
  let current: Random | undefined;
  const proxy: Random = {
    int: (max) => current!.int(max),
    float: () => current!.float(),
    bytes: (n) => current!.bytes(n),
  };
  const sampler = new IpSampler(intel, proxy);
  const top = new Map<string, Array<{ asn: number; name: string }>>();
  const withRng = <T>(rng: SeededRandom, f: () => T): T => {
    current = rng;
    try {
      return f();
    } finally {
      current = undefined;
    }
  };
  return {
    inCountry: (country, kind, version, rng) => withRng(rng, () => sampler.inCountry(country, kind, version)),
    inAsn: (asn, version, rng) => withRng(rng, () => sampler.inAsn(asn, version)),
    asnOf: (ip) => lookupIp(intel, ip)?.asn,
    topAsns: (country, kind, n) => {
      const key = `${country}:${kind}:${n}`;
      let list = top.get(key);
      if (!list) {
        list = sampler.topAsns(country, kind, n);
        top.set(key, list);
      }
      return list;
    },
  };
}
