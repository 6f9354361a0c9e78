import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhookSignature } from './signature.js';

const SECRET = 'whsec_test_secret_0123456789';
const BODY = '{"id":"evt_1","type":"account.suspended"}';
const T = 1767225600;
// Computed independently: printf '%s' "1767225600.$BODY" | openssl dgst -sha256 -hmac "$SECRET"
const V1 = '1653a86188a51ecf183b579a5fc36c464ca4605ac62312ef3ad407eee729aac7';

describe('webhook signatures', () => {
  it('matches the known vector', () => {
    expect(signWebhook(SECRET, BODY, T)).toBe(`t=${T},v1=${V1}`);
    expect(signWebhook(SECRET, Buffer.from(BODY), T)).toBe(`t=${T},v1=${V1}`);
  });

  it('verifies within the tolerance, on the raw bytes', () => {
    const header = `t=${T},v1=${V1}`;
    expect(verifyWebhookSignature(SECRET, header, BODY, T * 1000)).toBe(true);
    expect(verifyWebhookSignature(SECRET, header, Buffer.from(BODY), (T + 299) * 1000)).toBe(true);
    expect(verifyWebhookSignature(SECRET, header, BODY, (T - 299) * 1000)).toBe(true);
  });

  it('refuses replays, tampering, other secrets and malformed headers', () => {
    const header = `t=${T},v1=${V1}`;
    expect(verifyWebhookSignature(SECRET, header, BODY, (T + 301) * 1000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, BODY, (T + 30) * 1000, 10)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, BODY.replace('suspended', 'reinstated'), T * 1000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, JSON.stringify(JSON.parse(BODY), null, 1), T * 1000)).toBe(false);
    expect(verifyWebhookSignature('another-secret-0123456789', header, BODY, T * 1000)).toBe(false);
    // The timestamp is inside the MAC: moving it breaks the signature.
    expect(verifyWebhookSignature(SECRET, `t=${T + 1},v1=${V1}`, BODY, T * 1000)).toBe(false);
    for (const bad of [undefined, '', `v1=${V1}`, `t=${T}`, `t=${T},v1=zz`, `t=abc,v1=${V1}`, `t=${T},v0=${V1}`]) {
      expect(verifyWebhookSignature(SECRET, bad, BODY, T * 1000), String(bad)).toBe(false);
    }
  });

  it('accepts any matching v1 entry, for secret rotation', () => {
    const old = signWebhook('old-secret-0123456789abc', BODY, T).split(',')[1];
    expect(verifyWebhookSignature(SECRET, `t=${T},${old},v1=${V1}`, BODY, T * 1000)).toBe(true);
    expect(verifyWebhookSignature('old-secret-0123456789abc', `t=${T},${old},v1=${V1}`, BODY, T * 1000)).toBe(true);
  });
});
