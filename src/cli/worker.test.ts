import { describe, expect, it } from 'vitest';
import { listenAddress } from './worker.js';

describe('worker --listen', () => {
  it('takes HOST:PORT, [IPv6]:PORT and :PORT, and refuses anything else', () => {
    expect(listenAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(listenAddress(':9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(listenAddress('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(listenAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(listenAddress('metrics.internal:80')).toEqual({ host: 'metrics.internal', port: 80 });
    for (const bad of ['9464', '127.0.0.1', '127.0.0.1:65536', '::1:9464', 'a b:1', '127.0.0.1:-1', '127.0.0.1:port', '']) {
      expect(() => listenAddress(bad), bad).toThrow(/HOST:PORT/);
    }
  });
});
