import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../util/random.js';
import { TotpVault } from './totp-vault.js';

const k = (version: number, fill: number) => ({ version, key: Buffer.alloc(32, fill) });

describe('TotpVault', () => {
  it('seals so the stored text does not show the secret, and opens it again', () => {
    const vault = new TotpVault([k(1, 1)], new SeededRandom(1));
    const sealed = vault.seal('JBSWY3DPEHPK3PXP');
    expect(sealed).toMatch(/^k1:/);
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(vault.open(sealed)).toBe('JBSWY3DPEHPK3PXP');
  });

  it('opens seals of an older key during a rotation and says they need resealing; a tampered or unknown one opens to null', () => {
    const old = new TotpVault([k(1, 1)], new SeededRandom(2)).seal('SECRET');
    const rotated = new TotpVault([k(2, 2), k(1, 1)], new SeededRandom(3));
    expect(rotated.open(old)).toBe('SECRET');
    expect(rotated.needsReseal(old)).toBe(true);
    expect(rotated.needsReseal(rotated.seal('SECRET'))).toBe(false);
    expect(new TotpVault([k(2, 2)], new SeededRandom(4)).open(old)).toBeNull();
    const tampered = old.slice(0, -2) + (old.endsWith('AA') ? 'AB' : 'AA');
    expect(rotated.open(tampered)).toBeNull();
    expect(rotated.open('JBSWY3DPEHPK3PXP')).toBeNull();
  });
});
