/**
 * Synthetic population generator: deterministic accounts with unique valid mobile numbers, random
 * access by index and the inverse (number -> index), for `findguard seed`, the demo and the attack
 * simulator.
 */
export { Population, accountId } from './population.js';
export { DEFAULT_COUNTRIES } from './attributes.js';
export { BLOCK_SIZE, discoverBlocks, isValidMobile } from './blocks.js';
export { FeistelPermutation } from './permutation.js';
export { importLineOf } from './import-line.js';
export type {
  Purpose,
  SyntheticContactPoint,
  SyntheticAccount,
  PopulationOptions,
  CountryWeight,
  RegionInfo,
} from './types.js';
