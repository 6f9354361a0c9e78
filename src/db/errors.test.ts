import { describe, expect, it } from 'vitest';
import { storeFailure } from './errors.js';

const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('storeFailure', () => {
  it('reads an unreachable database from pg and Node codes, pg messages, causes and AggregateErrors', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '08006', '08001', '53300']) expect(storeFailure(coded(code)), code).toBe('unreachable');
    expect(storeFailure(new Error('Connection terminated unexpectedly'))).toBe('unreachable');
    expect(storeFailure(new Error('timeout exceeded when trying to connect'))).toBe('unreachable');
    expect(storeFailure(coded('55000', 'database "fg" is not currently accepting connections'))).toBe('unreachable');
    expect(storeFailure(new Error('wrapped', { cause: coded('ECONNREFUSED') }))).toBe('unreachable');
    expect(storeFailure(new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')]))).toBe('unreachable');
  });

  it('reads text PostgreSQL cannot store, and leaves everything else a bug', () => {
    expect(storeFailure(coded('22021', 'invalid byte sequence for encoding "UTF8": 0x00'))).toBe('invalid_text');
    expect(storeFailure(coded('22P05'))).toBe('invalid_text');
    for (const e of [coded('23505'), coded('42P01'), coded('55000', 'currval of sequence is not yet defined'), new Error('boom'), 'a string', null]) expect(storeFailure(e)).toBeNull();
  });
});
