export type Purpose = 'two_factor' | 'recovery' | 'discovery';

export interface SyntheticContactPoint {
  kind: 'phone' | 'email';
  /** E.164 for phones; addresses on reserved example domains for emails. */
  value: string;
  /** In canonical order: two_factor, recovery, discovery. */
  purposes: Purpose[];
  verified: boolean;
  /** Set where the phone is discoverable only by the owner's contacts (the simulator's "my contacts" users). */
  discoverableBy?: 'contacts';
}

export interface SyntheticAccount {
  index: number;
  /** Stable from index, e.g. "acct-000123". */
  id: string;
  handle: string;
  /** Epoch ms; non-decreasing with index, like an autoincrement id. */
  createdAt: number;
  /** ISO alpha-2 of the account's own phone. */
  phoneRegion: string;
  status: 'active' | 'suspended';
  signup: { deviceId: string; userAgent: string };
  /** The account's phone always comes first; an email may follow. */
  contactPoints: SyntheticContactPoint[];
}

export interface CountryWeight {
  region: string;
  weight: number;
}

export interface PopulationOptions {
  seed: number;
  accounts: number;
  /** Epoch ms; every createdAt is before it. */
  now: number;
  /** Default: DEFAULT_COUNTRIES. Zero-weight entries are allowed and get no accounts. */
  countries?: CountryWeight[];
  /** Share of accounts whose phone is verified with purpose 'discovery'. Default 0.6. */
  discoverableShare?: number;
  /** Share of accounts whose phone is verified for two_factor and/or recovery but not discovery. Default 0.15 (capped to what is left). */
  twoFactorOnlyShare?: number;
  /** Share of accounts that also have an email contact point. Default 0.3. */
  emailShare?: number;
  /** Share of suspended accounts. Default 0.005. */
  suspendedShare?: number;
  /** Target share of slots in a region's blocks that belong to an account (hit rate of a sequential scan). Default 0.35. */
  occupancy?: number;
  /** Years of platform history before `now`. Default 8. */
  historyYears?: number;
  /**
   * Seed of block discovery. Default 0: blocks are a property of the numbering plan shared by all
   * populations (and cached once), while `seed` decides which numbers inside them are taken.
   */
  blockSeed?: number;
}

export interface RegionInfo {
  region: string;
  /** Accounts whose phone is in this region. */
  accounts: number;
  /** E.164 prefixes (number minus last 4 digits). */
  blocks: readonly string[];
  /** blocks.length * 10,000. */
  capacity: number;
  /** accounts / capacity: the hit rate of a full sequential scan over this region's blocks. */
  occupancy: number;
}
