import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import Provider from 'oidc-provider';

/**
 * A real OpenID provider for tests (panva's oidc-provider, the one openid-client is tested
 * against), on the loopback: its development login accepts any name, and each name's groups come
 * from `groups`. `signIn` drives its login and consent pages as a browser would.
 */
export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Follows the provider's pages from the authorization URL to the redirect back; returns that URL. */
  signIn(authorizationUrl: string, login: string): Promise<URL>;
  close(): Promise<void>;
}

export async function startTestProvider(redirectUri: string, groups: Record<string, string[]>): Promise<TestProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'findguard-console';
  const clientSecret = 'a-client-secret-for-tests-0123456789';
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] }],
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, preferred_username: id, groups: groups[id] ?? [] }) }),
    claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
    // The claims in the ID token itself (findguard reads no userinfo).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
  });
  server.on('request', provider.callback());

  async function signIn(authorizationUrl: string, login: string): Promise<URL> {
    const jar = new Map<string, string>();
    const send = async (url: string, init: RequestInit = {}): Promise<Response> => {
      const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair!.indexOf('=');
        jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      return res;
    };
    let url = authorizationUrl;
    for (let i = 0; i < 12; i++) {
      if (url.startsWith(redirectUri)) return new URL(url);
      const res = await send(url);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location')!, url).href;
        continue;
      }
      const page = await res.text();
      // The development interaction: a login form, then a consent form.
      const uid = /\/interaction\/([^/]+)/.exec(new URL(url).pathname)?.[1];
      if (!uid) throw new Error(`unexpected page at ${url}: ${res.status} ${page.slice(0, 200)}`);
      const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
      if (!action) throw new Error(`no form on the page at ${url}`);
      const prompt = /name="prompt" value="([a-z]+)"/.exec(page)?.[1] ?? 'consent';
      const body = prompt === 'login' ? new URLSearchParams({ prompt, login, password: 'anything' }) : new URLSearchParams({ prompt });
      const posted = await send(action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      if (!posted.headers.get('location')) throw new Error(`the ${prompt} form answered ${posted.status}`);
      url = new URL(posted.headers.get('location')!, issuer).href;
    }
    throw new Error('the provider never redirected back');
  }

  return {
    issuer,
    clientId,
    clientSecret,
    signIn,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
