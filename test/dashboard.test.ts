import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { CONSOLE_CSP, dashboard } from '../src/dashboard/index.js';
import { startTestService, type TestService } from './helpers/service.js';

// The console's pages as HTTP answers: what they carry and what they may load. (The flows
// themselves run in a browser: test/browser/console.test.ts.)

const PAGES = ['/dashboard/sign-in', '/dashboard/overview', '/dashboard/campaigns', '/dashboard/campaigns/cmp_01abc', '/dashboard/incidents', '/dashboard/incidents/inc_01abc', '/dashboard/accounts', '/dashboard/accounts/acct-000001', '/dashboard/decisions', '/dashboard/policy', '/dashboard/webhooks', '/dashboard/alerts', '/dashboard/audit'];

describe('dashboard pages', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite');
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('serves every page with a CSP that allows no inline script, and no inline script or style', async () => {
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    expect(CONSOLE_CSP).not.toContain('unsafe-eval');
    for (const url of PAGES) {
      const res = await svc.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cache-control']).toBe('no-store');
      // Every script is a file of this origin; no inline script, handler or style attribute.
      expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(res.body).not.toMatch(/\son[a-z]+=/i);
      expect(res.body).not.toMatch(/\sstyle=/i);
      for (const m of res.body.matchAll(/(?:src|href)="([^"]+)"/g)) {
        const ref = m[1]!;
        if (ref.startsWith('data:') || !ref.startsWith('/dashboard/') || !/\.(js|css)$/.test(ref)) continue;
        const asset = await svc.app.inject({ method: 'GET', url: ref });
        expect(asset.statusCode, ref).toBe(200);
      }
    }
  });

  it('offers OIDC on the sign-in page only where it is configured', async () => {
    const without = await svc.app.inject({ method: 'GET', url: '/dashboard/sign-in' });
    expect(without.body).not.toContain('data-oidc');
    const app = Fastify();
    await app.register(dashboard({ oidc: true }), { prefix: '/dashboard' });
    const withOidc = await app.inject({ method: 'GET', url: '/dashboard/sign-in' });
    expect(withOidc.body).toContain('data-oidc="true"');
    await app.close();
  });

  it('redirects /dashboard to the overview', async () => {
    const res = await svc.app.inject({ method: 'GET', url: '/dashboard' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/dashboard/overview');
  });

  it('puts only ids in page paths: anything else, such as a phone number, is no page', async () => {
    for (const url of ['/dashboard/accounts/+14155550123', '/dashboard/accounts/%2B14155550123', '/dashboard/campaigns/a%20b', '/dashboard/accounts/x@y.example']) {
      const res = await svc.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
  });

  it('serves the vendor builds by name only', async () => {
    for (const name of ['uplot.js', 'uplot.css', 'graphology.js', 'sigma.js']) {
      const res = await svc.app.inject({ method: 'GET', url: `/dashboard/vendor/${name}` });
      expect(res.statusCode, name).toBe(200);
      expect(res.body.length).toBeGreaterThan(1000);
    }
    for (const url of ['/dashboard/vendor/package.json', '/dashboard/vendor/..%2Fpackage.json', '/dashboard/vendor/constructor', '/dashboard/assets/../index.ts', '/dashboard/assets/%2e%2e/index.ts']) {
      const res = await svc.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
    }
  });
});
