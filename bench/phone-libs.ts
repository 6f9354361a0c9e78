/**
 * Phone-library benchmark: which normaliser can carry the contact-sync hot path?
 *
 *   npx tsx bench/phone-libs.ts
 *
 * One batch of 1,000 realistic contact-book entries (80% already E.164 from a mix
 * of countries, 20% national formats with a default region), each normalised to
 * E.164 + validity by:
 *   - libphonenumber-js, "min" metadata  (parsePhoneNumberFromString + isValid)
 *   - libphonenumber-js, "max" metadata  (parsePhoneNumberFromString + isValid)
 *   - awesome-phonenumber (parsePhoneNumber(..., { regionCode }).valid)
 *   - our normalisePhone (compiled fast path for E.164, libphonenumber-js max otherwise)
 * plus the E.164-only subset for libphonenumber-js max and our fast path.
 * Single thread, warm JIT, median of several timed rounds.
 */
import { performance } from 'node:perf_hooks';

type Fn = (input: string, region: string | undefined) => string | null;
interface Entry {
  input: string;
  region: string | undefined;
}

const t0 = performance.now();
const lpnMin = await import('libphonenumber-js/min');
const tMin = performance.now();
const lpnMax = await import('libphonenumber-js/max');
const tMax = performance.now();
const awesome = await import('awesome-phonenumber');
const tAwesome = performance.now();
const phone = await import('../src/directory/phone.js');
const tOurs = performance.now();
const examples = (await import('libphonenumber-js/examples.mobile.json')).default;

// ---- Build the batch (deterministic).
const COUNTRIES = ['US', 'US', 'US', 'IN', 'IN', 'BR', 'ID', 'GB', 'DE', 'FR', 'NG', 'MX', 'JP', 'RU', 'CA', 'MY', 'IR', 'IL', 'PH', 'TR'] as const;
let seed = 0x2545f491;
function rand(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
}
const batch: Entry[] = [];
while (batch.length < 1000) {
  const country = COUNTRIES[rand(COUNTRIES.length)]!;
  const ex = lpnMax.getExampleNumber(country, examples)!;
  // Vary the last 5 digits; ~4% of entries are truncated (realistic contact-book junk).
  const tail = String(rand(100_000)).padStart(5, '0');
  const p = lpnMax.parsePhoneNumberFromString(ex.number.slice(0, -5) + tail);
  if (!p) continue;
  const cut = rand(100) < 4 ? -2 : undefined;
  if (batch.length % 5 === 4) batch.push({ input: p.formatNational().slice(0, cut), region: country }); // 20% national
  else batch.push({ input: p.number.slice(0, cut), region: undefined }); // 80% E.164
}
const e164Only = batch.filter((e) => e.region === undefined);

// ---- Contenders.
const contenders: [string, Fn, Entry[]][] = [
  ['libphonenumber-js min', (s, r) => {
    const p = lpnMin.parsePhoneNumberFromString(s, r as never);
    return p && p.isValid() ? p.number : null;
  }, batch],
  ['libphonenumber-js max', (s, r) => {
    const p = lpnMax.parsePhoneNumberFromString(s, r as never);
    return p && p.isValid() ? p.number : null;
  }, batch],
  ['awesome-phonenumber', (s, r) => {
    const p = awesome.parsePhoneNumber(s, r ? { regionCode: r } : undefined);
    return p.valid ? p.number.e164 : null;
  }, batch],
  ['findguard normalisePhone', (s, r) => {
    const res = phone.normalisePhone(s, r);
    return res.ok ? res.e164 : null;
  }, batch],
  ['libphonenumber-js max, E.164 only', (s) => {
    const p = lpnMax.parsePhoneNumberFromString(s);
    return p && p.isValid() ? p.number : null;
  }, e164Only],
  ['findguard fast path, E.164 only', (s) => {
    const res = phone.normaliseE164(s);
    return res.ok ? res.e164 : null;
  }, e164Only],
];

function runOnce(fn: Fn, entries: Entry[]): number {
  let accepted = 0;
  for (const e of entries) if (fn(e.input, e.region) !== null) accepted++;
  return accepted;
}

function measure(fn: Fn, entries: Entry[]): { perSec: number; accepted: number } {
  const accepted = runOnce(fn, entries);
  for (let w = performance.now(); performance.now() - w < 300; ) runOnce(fn, entries); // warm-up
  const rates: number[] = [];
  for (let round = 0; round < 7; round++) {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      runOnce(fn, entries);
      n += entries.length;
      elapsed = performance.now() - start;
    } while (elapsed < 200);
    rates.push((n / elapsed) * 1000);
  }
  rates.sort((a, b) => a - b);
  return { perSec: rates[3]!, accepted };
}

const results = contenders.map(([name, fn, entries]) => ({ name, n: entries.length, ...measure(fn, entries) }));
const maxRate = results.find((r) => r.name === 'libphonenumber-js max')!.perSec;
const maxE164Rate = results.find((r) => r.name === 'libphonenumber-js max, E.164 only')!.perSec;

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
console.log(`Node ${process.version}, batch: ${batch.length} numbers (${e164Only.length} E.164, ${batch.length - e164Only.length} national + region)\n`);
console.log('| contender                          | batch | accepted |   numbers/s | vs lpn-js max |');
console.log('|------------------------------------|------:|---------:|------------:|--------------:|');
for (const r of results) {
  const base = r.name.endsWith('E.164 only') ? maxE164Rate : maxRate;
  console.log(
    `| ${r.name.padEnd(34)} | ${String(r.n).padStart(5)} | ${String(r.accepted).padStart(8)} | ${fmt(r.perSec).padStart(11)} | ${(r.perSec / base).toFixed(2).padStart(12)}x |`,
  );
}

// ---- Agreement on the batch (our output must equal libphonenumber-js max exactly).
const disagree = (a: Fn, b: Fn) => batch.filter((e) => a(e.input, e.region) !== b(e.input, e.region)).length;
const [, minFn] = contenders[0]!;
const [, maxFn] = contenders[1]!;
const [, awesomeFn] = contenders[2]!;
const [, oursFn] = contenders[3]!;
console.log(`\nDisagreements with libphonenumber-js max: ours ${disagree(oursFn, maxFn)}, min ${disagree(minFn, maxFn)}, awesome-phonenumber ${disagree(awesomeFn, maxFn)}`);
console.log(
  `Module import time (ms, sequential; later imports share code): lpn-js min ${(tMin - t0).toFixed(0)}, ` +
    `lpn-js max ${(tMax - tMin).toFixed(0)}, awesome-phonenumber ${(tAwesome - tMax).toFixed(0)}, ours ${(tOurs - tAwesome).toFixed(0)}`,
);
