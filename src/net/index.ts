/**
 * Offline IP intelligence: country, origin ASN and AS name, subnet keys and a hosting heuristic
 * for a caller's address, and an address sampler over real allocations for the attack simulator.
 *
 * Data, read from npm packages (refresh = update the packages; see caveat below):
 *   - @ip-location-db/geo-whois-asn-country (country; package licence CC0-1.0; built from
 *     GeoFeed, RIR WHOIS and the NRO's RIR statistics, the latter CC BY 4.0 by the NRO)
 *   - @ip-location-db/asn (origin ASN + AS name; CC BY 4.0 by RouteViews, DB-IP and the NRO)
 *
 * Attribution the data's licences require (CC BY 4.0; repeat it in the project README and, for
 * DB-IP, on the dashboard pages that show AS names or other results):
 *   IP-to-ASN data: "IP to ASN Lite" by DB-IP (https://db-ip.com), the RouteViews IP-to-ASN
 *   database (https://www.routeviews.org) and the RIR statistics of the NRO (https://www.nro.net),
 *   all licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/), merged and
 *   modified by the ip-location-db project (https://github.com/sapics/ip-location-db), and
 *   re-indexed (cut into combined country/ASN ranges) by findguard.
 *   Country data: ip-location-db geo-whois-asn-country (CC0 1.0), using NRO data (CC BY 4.0).
 *   HTML for pages that display or use results: <a href='https://db-ip.com'>IP Geolocation by DB-IP</a>
 *
 * Caveat: the 2026 releases of these packages carry a notice that npm publishing is deprecated
 * and that the npm data "contains bugs" (overlapping rows, which tables.ts resolves by letting the
 * more specific range win); later data is published as GitHub release files.
 */
import { cacheKey, readCache, writeCache } from './cache.js';
import type { HostingOptions } from './hosting.js';
import { OfflineIpIntel } from './intel.js';
import { ASN_PACKAGE, dataFiles, loadPackagedTables, tablesFromRows, type RangeRow } from './table-sources.js';
import type { IpTables } from './tables.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export { InvalidIpError, isIp, normalizeIp, parseIp, subnetKeys, type ParsedIp } from './ip.js';
export { lookupIp, OfflineIpIntel, type IpInfo, type IpIntel } from './intel.js';
export { IpSampler, IpSamplerError, type SampleKind } from './sampler.js';
export { KNOWN_HOSTING_ASNS, HOSTING_NAME_PATTERN, isHostingName, type HostingOptions } from './hosting.js';
export type { IpTables, FamilyTable } from './tables.js';
export type { RangeRow } from './table-sources.js';

export interface LoadIpIntelOptions extends HostingOptions {
  /**
   * Folder for the binary snapshot of the parsed tables (first start parses the CSVs, ~1.5 s;
   * later starts read the snapshot, ~0.1 s). Default: node_modules/.cache/findguard next to the
   * data packages. false: always parse, never write.
   */
  cacheDir?: string | false;
}

function defaultCacheDir(): string {
  const req = createRequire(import.meta.url);
  // .../node_modules/@ip-location-db/asn/package.json -> .../node_modules/.cache/findguard
  return join(dirname(req.resolve(`${ASN_PACKAGE}/package.json`)), '..', '..', '.cache', 'findguard');
}

async function loadTables(cacheDir: string | false): Promise<IpTables> {
  if (cacheDir === false) return loadPackagedTables();
  const { files, source } = await dataFiles();
  const key = await cacheKey(files, source);
  const cached = await readCache(cacheDir, key);
  if (cached) return cached;
  const tables = await loadPackagedTables();
  // A read-only install folder just means every start parses; never fail the load for it.
  await writeCache(cacheDir, key, tables).catch(() => undefined);
  return tables;
}

// The tables are immutable and ~20 MB: one copy per process, shared by every IpIntel instance.
const shared = new Map<string, Promise<IpTables>>();

/** Loads the packaged data (once per process) and returns lookups with this hosting policy. */
export async function loadIpIntel(options: LoadIpIntelOptions = {}): Promise<OfflineIpIntel> {
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const k = cacheDir === false ? '' : cacheDir;
  let p = shared.get(k);
  if (!p) {
    p = loadTables(cacheDir);
    shared.set(k, p);
    p.catch(() => shared.delete(k));
  }
  return new OfflineIpIntel(await p, options);
}

/**
 * An IpIntel over hand-made ranges, for tests and fixtures that should not load the packaged
 * data: e.g. [{ cidr: '203.0.113.0/24', country: 'NL', asn: 64500, asName: 'Example Hosting' }].
 * Where rows overlap, the more specific range wins; special-purpose ranges are not blanked here.
 */
export function ipIntelFromRanges(rows: Iterable<RangeRow>, options: HostingOptions = {}): OfflineIpIntel {
  return new OfflineIpIntel(tablesFromRows(rows), options);
}
