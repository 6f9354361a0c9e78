import metadataJson from 'libphonenumber-js/metadata.max.json';

/**
 * Number blocks (E.164 minus the last 4 digits) at block level: their country calling code and
 * their numeric order. Blocks cannot be mapped to one region in general (+1 is shared by 25), so
 * "foreign" means another calling code than the account's own phone: a US account asking Canadian
 * numbers is not foreign, an Iranian one asking them is.
 */

const callingCodes: Record<string, readonly string[]> = (metadataJson as { country_calling_codes: Record<string, string[]> }).country_calling_codes;
const regionCode = new Map<string, string>();
for (const [cc, regions] of Object.entries(callingCodes)) for (const r of regions) if (r !== '001') regionCode.set(r, cc);

/** The calling code of an ISO region ("US" -> "1"), undefined if unknown. */
export function regionCallingCode(region: string | undefined): string | undefined {
  return region === undefined ? undefined : regionCode.get(region);
}

// Blocks recur (a region has few), so their codes are worth a bounded cache.
const CACHE_MAX = 200_000;
const blockCodes = new Map<string, string | null>();

/** The calling code a block starts with ("+1415555" -> "1"); codes are prefix-free, so the first known prefix is it. */
export function blockCallingCode(block: string): string | undefined {
  let cc = blockCodes.get(block);
  if (cc === undefined) {
    cc = null;
    for (let len = 1; len <= 3 && len < block.length; len++) {
      const prefix = block.slice(1, 1 + len);
      if (callingCodes[prefix] !== undefined) {
        cc = prefix;
        break;
      }
    }
    if (blockCodes.size >= CACHE_MAX) blockCodes.clear();
    blockCodes.set(block, cc);
  }
  return cc ?? undefined;
}

/** The calling code of an E.164 number ("+4915..." -> "49"); undefined if none is known. Not cached: three lookups at most. */
export function numberCallingCode(e164: string): string | undefined {
  if (e164.charCodeAt(0) !== 43) return undefined;
  for (let len = 1; len <= 3 && len < e164.length; len++) {
    const prefix = e164.slice(1, 1 + len);
    if (callingCodes[prefix] !== undefined) return prefix;
  }
  return undefined;
}

/** A block as a number, for ordering within one calling code (blocks are at most 11 digits: exact in a double). */
export function blockValue(block: string): number {
  return Number(block.slice(1));
}
