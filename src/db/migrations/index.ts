import type { Migration } from 'kysely';
import * as m20261125000000 from './20261125000000-directory.js';
import * as m20261202000000 from './20261202000000-lookup-events.js';
import * as m20261203000000 from './20261203000000-incidents.js';
import * as m20261204000000 from './20261204000000-events-own-file.js';
import * as m20261205000000 from './20261205000000-events-handled-flag.js';
import * as m20261210000000 from './20261210000000-derived-phone-region.js';
import * as m20261211000000 from './20261211000000-decisions.js';
import * as m20261212000000 from './20261212000000-limit-state.js';
import * as m20261213000000 from './20261213000000-discoverability.js';
import * as m20261215000000 from './20261215000000-hit-rates.js';
import * as m20261216000000 from './20261216000000-operators.js';
import * as m20261217000000 from './20261217000000-console.js';
import * as m20261220000000 from './20261220000000-incident-records.js';
import * as m20261220000001 from './20261220000001-incident-phase-facts.js';
import * as m20261221000000 from './20261221000000-exposure-notices.js';
import * as m20261222000000 from './20261222000000-alerts.js';
import * as m20261223000000 from './20261223000000-first-sync-claim.js';
import * as m20261224000000 from './20261224000000-decision-change-seq.js';
import * as m20261225000000 from './20261225000000-event-stream-positions.js';
import * as m20261226000000 from './20261226000000-notices-expiry-index.js';
import * as m20261228000000 from './20261228000000-actions-by-kind.js';
import * as m20261229000000 from './20261229000000-actions-by-time.js';
import * as m20261230000000 from './20261230000000-limit-state-own-file.js';
import * as m20261231000000 from './20261231000000-hit-rates-events-file.js';
import * as m20270101000000 from './20270101000000-reinstatements-by-time.js';
import * as m20270102000000 from './20270102000000-signups-by-time.js';
import * as m20270103000000 from './20270103000000-notices-told-attackers.js';
import * as m20270104000000 from './20270104000000-token-creator.js';
import * as m20270105000000 from './20270105000000-exposure-periods.js';
import * as m20270106000000 from './20270106000000-limit-state-expiry-index.js';
import * as m20270107000000 from './20270107000000-erased-incarnations.js';
import * as m20270108000000 from './20270108000000-operator-credential-holders.js';
import * as m20270109000000 from './20270109000000-signup-attested.js';
import * as m20270110000000 from './20270110000000-answer-pool.js';

/** Every migration, in order. Explicit so bundling and both dialects see the same list. */
export const migrations: Record<string, Migration> = {
  '20261125000000-directory': m20261125000000,
  '20261202000000-lookup-events': m20261202000000,
  '20261203000000-incidents': m20261203000000,
  '20261204000000-events-own-file': m20261204000000,
  '20261205000000-events-handled-flag': m20261205000000,
  '20261210000000-derived-phone-region': m20261210000000,
  '20261211000000-decisions': m20261211000000,
  '20261212000000-limit-state': m20261212000000,
  '20261213000000-discoverability': m20261213000000,
  '20261215000000-hit-rates': m20261215000000,
  '20261216000000-operators': m20261216000000,
  '20261217000000-console': m20261217000000,
  '20261220000000-incident-records': m20261220000000,
  '20261220000001-incident-phase-facts': m20261220000001,
  '20261221000000-exposure-notices': m20261221000000,
  '20261222000000-alerts': m20261222000000,
  '20261223000000-first-sync-claim': m20261223000000,
  '20261224000000-decision-change-seq': m20261224000000,
  '20261225000000-event-stream-positions': m20261225000000,
  '20261226000000-notices-expiry-index': m20261226000000,
  '20261228000000-actions-by-kind': m20261228000000,
  '20261229000000-actions-by-time': m20261229000000,
  '20261230000000-limit-state-own-file': m20261230000000,
  '20261231000000-hit-rates-events-file': m20261231000000,
  '20270101000000-reinstatements-by-time': m20270101000000,
  '20270102000000-signups-by-time': m20270102000000,
  '20270103000000-notices-told-attackers': m20270103000000,
  '20270104000000-token-creator': m20270104000000,
  '20270105000000-exposure-periods': m20270105000000,
  '20270106000000-limit-state-expiry-index': m20270106000000,
  '20270107000000-erased-incarnations': m20270107000000,
  '20270108000000-operator-credential-holders': m20270108000000,
  '20270109000000-signup-attested': m20270109000000,
  '20270110000000-answer-pool': m20270110000000,
};
