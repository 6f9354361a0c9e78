import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../util/random.js';
import { hashPassword, PasswordCheckBusy, verifyPassword } from './passwords.js';

describe('passwords', () => {
  it('hashes with scrypt, recording the parameters, and verifies', async () => {
    const hash = await hashPassword('correct horse battery', new SeededRandom(1), { N: 1024, r: 8, p: 1 });
    expect(hash).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPassword('correct horse battery', hash)).toBe(true);
    expect(await verifyPassword('correct horse batterY', hash)).toBe(false);
    expect(await verifyPassword('x', 'scrypt$99999999$8$1$aa$bb')).toBe(false);
    expect(await verifyPassword('x', 'plain')).toBe(false);
  });

  it('runs two derivations at a time, queues some, and refuses the rest instead of holding their memory', async () => {
    const hash = await hashPassword('pw', new SeededRandom(2), { N: 4096, r: 8, p: 1 });
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => verifyPassword('pw', hash)));
    const ok = results.filter((r) => r.status === 'fulfilled' && r.value === true).length;
    const busy = results.filter((r) => r.status === 'rejected' && r.reason instanceof PasswordCheckBusy).length;
    expect(ok).toBe(66);
    expect(busy).toBe(34);
    // Once the queue drains, checks run again.
    expect(await verifyPassword('pw', hash)).toBe(true);
  });
});
