/**
 * Hosting / datacenter detection: a HEURISTIC, maintained in this repository.
 *
 * No free offline "datacenter ranges" list ships in the @ip-location-db family, so an address
 * counts as hosting when its origin ASN is
 *   1. in KNOWN_HOSTING_ASNS below (cloud, VPS, dedicated-server, CDN and proxy-heavy networks,
 *      checked against the AS names in the packaged data), or
 *   2. named like a hosting network (HOSTING_NAME_PATTERN: "hosting", "cloud", "datacenter",
 *      "data centre", "server", "vps", "vds", "colo"/"colocation", "dedicated server"), or
 *   3. added by the policy (`hostingAsns`),
 * and not removed by the policy (`nonHostingAsns`, for name matches that are really eyeball
 * networks). Everything else is "residential" (fixed and mobile access networks, but also
 * enterprises, universities and governments, which the data cannot tell apart).
 *
 * Known gaps: hosting companies whose AS name says none of the words (many small ones), resellers
 * announcing from their upstream's ASN, residential-proxy traffic (which by design comes from
 * eyeball ASNs), and carriers with a "cloud" or "server" word in their name. Extend the list when
 * an incident shows a miss; keep each entry with the name the data gives it.
 */

/** Well-known hosting/cloud ASNs: ASN -> the AS name in the data (for the reader). */
export const KNOWN_HOSTING_ASNS: ReadonlyMap<number, string> = new Map([
  // Hyperscale clouds
  [16509, 'Amazon.com, Inc. (AWS)'],
  [14618, 'Amazon.com, Inc. (AWS)'],
  [8987, 'Amazon Data Services Ireland Ltd'],
  [7224, 'Amazon.com, Inc.'],
  [38895, 'Amazon.com Tech Telecom'],
  [15169, 'Google LLC'],
  [396982, 'Google LLC (Google Cloud)'],
  [19527, 'Google LLC'],
  [36040, 'Google LLC'],
  [8075, 'Microsoft Corporation (Azure)'],
  [8068, 'Microsoft Corporation'],
  [8069, 'Microsoft Corporation'],
  [3598, 'Microsoft Corporation'],
  [8070, 'Microsoft Corporation'],
  [35106, 'Microsoft Limited'],
  [31898, 'Oracle Corporation (OCI)'],
  [36351, 'IBM Cloud (SoftLayer)'],
  [45102, 'Alibaba (US) Technology Co., Ltd.'],
  [37963, 'Hangzhou Alibaba Advertising Co.,Ltd. (Alibaba Cloud)'],
  [132203, 'Shenzhen Tencent Computer Systems Company Limited (Tencent Cloud)'],
  [45090, 'Shenzhen Tencent Computer Systems Company Limited'],
  [136907, 'HUAWEI INTERNATIONAL PTE. LTD. (Huawei Cloud)'],
  [55990, 'Huawei Cloud Service data center'],
  [200350, 'Yandex.Cloud LLC'],
  // VPS, dedicated servers, bare metal
  [16276, 'OVH SAS'],
  [35540, 'OVH SAS'],
  [24940, 'Hetzner Online GmbH'],
  [213230, 'Hetzner Online GmbH'],
  [212317, 'Hetzner Online GmbH'],
  [14061, 'DigitalOcean, LLC'],
  [63949, 'Akamai Technologies, Inc. (Linode)'],
  [20473, 'The Constant Company, LLC (Vultr/Choopa)'],
  [51167, 'Contabo GmbH'],
  [40021, 'Contabo Inc.'],
  [141995, 'Contabo Asia Private Limited'],
  [60781, 'LeaseWeb Netherlands B.V.'],
  [16265, 'LeaseWeb Network B.V.'],
  [28753, 'Leaseweb Deutschland GmbH'],
  [30633, 'Leaseweb USA, Inc.'],
  [7203, 'Leaseweb USA, Inc.'],
  [395954, 'Leaseweb USA, Inc.'],
  [59253, 'LEASEWEB SINGAPORE PTE. LTD.'],
  [12876, 'Scaleway SAS'],
  [9009, 'M247 Europe SRL'],
  [47583, 'Hostinger International Limited'],
  [36007, 'Kamatera, Inc.'],
  [40676, 'Psychz Networks'],
  [21859, 'Zenlayer Inc'],
  [8100, 'QuadraNet Enterprises LLC'],
  [36352, 'HostPapa (ColoCrossing)'],
  [54290, 'HostPapa (Hostwinds)'],
  [60068, 'Datacamp Limited (CDN77)'],
  [199524, 'G-Core Labs S.A.'],
  [210644, 'AEZA INTERNATIONAL LTD'],
  [44477, 'AS44477 (Stark Industries)'],
  [53667, 'FranTech Solutions (BuyVM)'],
  [49505, 'JSC Selectel'],
  [9123, 'JSC "TIMEWEB"'],
  [8560, 'IONOS SE'],
  [6724, 'Strato AG'],
  [197540, 'netcup GmbH'],
  [396356, 'Latitude.sh'],
  [62240, 'Clouvider Limited'],
  [26347, 'New Dream Network, LLC (DreamHost)'],
  [46606, 'Unified Layer'],
  [22612, 'Namecheap, Inc.'],
  [11878, 'tzulo, inc.'],
  [25820, 'IT7 Networks Inc'],
  [35916, 'MULTACOM CORPORATION'],
  [23470, 'ReliableSite.Net LLC'],
  [62904, 'Eonix Corporation'],
  [29802, 'HIVELOCITY, Inc.'],
  [43350, 'NForce Entertainment B.V.'],
  [29066, 'velia.net Internetdienste GmbH'],
  [58061, 'Scalaxy B.V.'],
  [57043, 'HOSTKEY B.V.'],
  [33387, 'Nocix, LLC'],
  [32097, 'WholeSale Internet, Inc.'],
  [20278, 'Nexeon Technologies, Inc.'],
  [8972, 'Host Europe GmbH'],
  [197695, 'Domain names registrar REG.RU, Ltd'],
  [29447, 'SCALEWAY S.A.S.'],
  [15395, 'Rackspace Ltd.'],
  // CDNs and edge networks (their addresses front services or relay traffic; not end users)
  [13335, 'Cloudflare, Inc.'],
  [209242, 'Cloudflare London, LLC'],
  [20940, 'Akamai International B.V.'],
  [16625, 'Akamai Technologies, Inc.'],
  [54113, 'Fastly, Inc.'],
]);

/** AS-name words that mark hosting networks. Word-anchored so "Colombia" is not "colo". */
export const HOSTING_NAME_PATTERN =
  /hosting|\bhoster\b|cloud|data ?cent(?:er|re)s?|servers?\b|\bserver|\bvps|vps\b|\bvds\b|\bcolo\b|colocation|dedicated[ -]?serv/i;

export interface HostingOptions {
  /** Extra ASNs the policy treats as hosting. */
  hostingAsns?: Iterable<number>;
  /** ASNs the policy treats as residential even if the list or the name rule says hosting. */
  nonHostingAsns?: Iterable<number>;
}

/** True when an AS name alone marks the network as hosting (rule 2 above). */
export function isHostingName(name: string | undefined): boolean {
  return name !== undefined && HOSTING_NAME_PATTERN.test(name);
}

/** The set of hosting ASNs among the known names (rules 1-3, less `nonHostingAsns`). */
export function buildHostingSet(names: ReadonlyMap<number, string>, options: HostingOptions = {}): Set<number> {
  const set = new Set<number>(KNOWN_HOSTING_ASNS.keys());
  for (const [asn, name] of names) if (isHostingName(name)) set.add(asn);
  for (const asn of options.hostingAsns ?? []) set.add(asn);
  for (const asn of options.nonHostingAsns ?? []) set.delete(asn);
  return set;
}

/**
 * Access networks (for the simulator only): a second HEURISTIC, narrowing "not hosting" to the
 * networks that end users' phones and homes actually use. By address space, a country's
 * non-hosting space is full of networks no consumer connects from: the US DoD (AS749 alone is a
 * fifth of US IPv4 space), ministries, universities and research networks, car makers, banks,
 * and transit backbones. The sampler's 'residential' kind leaves out networks that are in
 * KNOWN_NON_ACCESS_ASNS or named like INSTITUTIONAL_NAME_PATTERN. Lookups are unaffected:
 * IpInfo.hosting stays "hosting or not".
 */
export const KNOWN_NON_ACCESS_ASNS: ReadonlyMap<number, string> = new Map([
  // Transit backbones and enterprise carriers
  [174, 'Cogent Communications'],
  [3356, 'Level 3 Communications, Inc. (Lumen)'],
  [3257, 'GTT Communications Inc.'],
  [1299, 'Arelion (Telia Carrier)'],
  [2914, 'NTT America'],
  [6453, 'TATA COMMUNICATIONS (AMERICA) INC'],
  [6762, 'Telecom Italia Sparkle'],
  [3491, 'PCCW Global'],
  [6939, 'Hurricane Electric LLC'],
  [5511, 'Orange S.A. (OpenTransit)'],
  [12956, 'Telefonica Global Solutions'],
  [6461, 'Zayo Bandwidth'],
  [3549, 'Level 3 Communications, Inc. (Global Crossing)'],
  [702, 'Verizon Business (UUNET EMEA)'],
  [703, 'Verizon Business (UUNET APAC)'],
  // Research and education networks whose names say neither
  [786, 'Jisc Services Limited (JANET, UK)'],
  [2200, 'Renater (FR)'],
  [680, 'DFN (DE)'],
  [2907, 'SINET (JP)'],
  [378, 'IUCC (IL)'],
  // Enterprises holding large legacy blocks
  [714, 'Apple Inc. (17.0.0.0/8)'],
  [71, 'Hewlett-Packard Company'],
  [209502, 'Electricite de France SA'],
  [4249, 'Eli Lilly and Company'],
  [11003, 'The Procter and Gamble Company'],
  [1540, 'Headquarters, USAISC (US Army)'],
  [4155, 'USDA'],
]);

export const INSTITUTIONAL_NAME_PATTERN =
  /universi|college|\bschool|academ|research|education|forschung|hochschule|ministry|ministerio|department of|government|gouvernement|\bgov\b|defen[cs]e|military|\bdod\b|\bnavy\b|\barmy\b|air force|institute|hospital|\bnhs\b|\bbank\b|banco|insurance|motor company|automotive|mercedes|\bpolice\b|postal service|amateur radio/i;

/** ASNs that are neither hosting nor access networks by the heuristic above (no policy input). */
export function buildNonAccessSet(names: ReadonlyMap<number, string>): Set<number> {
  const set = new Set<number>(KNOWN_NON_ACCESS_ASNS.keys());
  for (const [asn, name] of names) if (INSTITUTIONAL_NAME_PATTERN.test(name)) set.add(asn);
  return set;
}
