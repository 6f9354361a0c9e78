import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: /metrics was served on the public listener without authentication. Its series tell any
 * caller of the public API how the defence stands right now: whether the global breaker is
 * tripped (a distributed scraper pauses while it is and resumes when it is not), per layer how
 * many calls are near their limit, and whether the abuse engine runs in shadow mode. A serving
 * node now wants FINDGUARD_METRICS_TOKEN as a bearer, or the service key where that is unset.
 */
const METRICS_TOKEN = 'prometheus-scrape-token-0123456789';

describeEachDialect('review: /metrics is not for the public', (dialect) => {
  let svc: TestService;
  let withToken: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect);
    withToken = await startTestService(dialect, { metricsToken: METRICS_TOKEN });
  });
  afterAll(async () => {
    await svc.stop();
    await withToken.stop();
  });

  it('an unauthenticated caller, or one with an app JWT, cannot read the breaker state and the engine mode', async () => {
    for (const headers of [{}, { authorization: `Bearer ${await svc.tokenFor('someone')}` }, { authorization: 'Bearer wrong-key-wrong-key-wrong' }]) {
      const res = await svc.app.inject({ method: 'GET', url: '/metrics', headers });
      expect(res.statusCode, 'GET /metrics without the key').toBe(401);
      expect(res.json().error.code).toBe('unauthenticated');
      expect(res.body).not.toContain('findguard_breaker_tripped');
    }
  });

  it('the service key reads them where no metrics token is set', async () => {
    const res = await svc.app.inject({ method: 'GET', url: '/metrics', headers: svc.internal });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('findguard_breaker_tripped');
  });

  it('with FINDGUARD_METRICS_TOKEN set, that token reads them and the service key does not', async () => {
    const ok = await withToken.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('findguard_breaker_tripped');
    const byServiceKey = await withToken.app.inject({ method: 'GET', url: '/metrics', headers: withToken.internal });
    expect(byServiceKey.statusCode).toBe(401);
  });

  it('/healthz and /readyz stay open for probes', async () => {
    expect((await svc.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await svc.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
