import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../errors.js';
import { PAGES, renderPage, type PageSpec } from './pages.js';

/**
 * The operator console at /dashboard: page shells, their client modules and the vendor builds they
 * use (uPlot, graphology, sigma.js) served as files, with no build step of its own. Everything a page
 * shows comes from /admin/v1 through the operator's session (see pages.ts).
 */

/**
 * The client modules live beside the sources (not compiled by tsc: they run in the browser as they
 * are). From src/dashboard/ and from dist/dashboard/ alike, two levels up is the package root.
 */
const ASSETS = fileURLToPath(new URL('../../src/dashboard/assets/', import.meta.url));

const require = createRequire(import.meta.url);

/** Each vendor file by the name a page asks for: only these, never a path into node_modules. */
const VENDOR: Record<string, { file: string; type: string }> = {
  'uplot.js': { file: vendorFile('uplot', 'dist/uPlot.iife.min.js'), type: 'text/javascript' },
  'uplot.css': { file: vendorFile('uplot', 'dist/uPlot.min.css'), type: 'text/css' },
  'graphology.js': { file: vendorFile('graphology', 'dist/graphology.umd.min.js'), type: 'text/javascript' },
  'sigma.js': { file: vendorFile('sigma', 'dist/sigma.min.js'), type: 'text/javascript' },
};

/**
 * A file of an installed package. Their "exports" maps leave out the browser bundles, so the
 * package's folder is found from its entry point, up to its package.json.
 */
function vendorFile(pkg: string, file: string): string {
  let dir = dirname(require.resolve(pkg));
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== pkg) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the package folder of ${pkg}`);
    dir = up;
  }
  return join(dir, file);
}

/**
 * Only this origin's files run, and nothing inline: uPlot and sigma set element styles through the
 * CSSOM, which style-src does not govern, so neither needs 'unsafe-inline'. sigma draws with WebGL
 * and reads nothing from elsewhere.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Campaign and account ids in paths: the characters of findguard's ids, nothing that could be a phone number. */
const ID = /^[A-Za-z0-9_-]{1,128}$/;

function securityHeaders(reply: FastifyReply): void {
  void reply.headers({
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  });
}

export interface DashboardOptions {
  /** OIDC sign-in is configured: the sign-in page offers it beside name, password and code. */
  oidc?: boolean;
}

export function dashboard(options: DashboardOptions = {}): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onSend', async (_request, reply, payload) => {
      securityHeaders(reply);
      return payload;
    });

    await app.register(fastifyStatic, {
      root: ASSETS,
      prefix: '/assets/',
      decorateReply: false,
      index: false,
      list: false,
      dotfiles: 'deny',
      // The modules change with the server; a stale one would call routes that moved.
      cacheControl: false,
      setHeaders: (reply) => void reply.header('cache-control', 'no-cache'),
    });

    app.get('/vendor/:name', { schema: { hide: true } }, async (request, reply) => {
      const { name } = request.params as { name: string };
      const vendor = Object.hasOwn(VENDOR, name) ? VENDOR[name] : undefined;
      if (!vendor) throw new AppError('not_found', 'no such file');
      return reply
        .type(vendor.type)
        .header('cache-control', 'public, max-age=86400')
        .header('content-disposition', `inline; filename="${basename(vendor.file)}"`)
        .send(createReadStream(vendor.file));
    });

    const page = (path: string, spec: PageSpec, idParam?: string, fixed: Record<string, string> = {}): void => {
      app.get(path, { schema: { hide: true } }, async (request, reply) => {
        const params: Record<string, string> = { ...fixed };
        if (idParam) {
          const id = (request.params as Record<string, string>)[idParam] ?? '';
          if (!ID.test(id)) throw new AppError('not_found', 'no such page');
          params[idParam] = id;
        }
        return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(renderPage(spec, params));
      });
    };

    app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/dashboard/overview'));
    page('/sign-in', PAGES.signIn, undefined, options.oidc ? { oidc: 'true' } : {});
    page('/overview', PAGES.overview);
    page('/campaigns', PAGES.campaigns);
    page('/campaigns/:id', PAGES.campaign, 'id');
    page('/incidents', PAGES.incidents);
    page('/incidents/:id', PAGES.incident, 'id');
    page('/accounts', PAGES.accounts);
    page('/accounts/:id', PAGES.accounts, 'id');
    page('/decisions', PAGES.decisions);
    page('/policy', PAGES.policy);
    page('/webhooks', PAGES.webhooks);
    page('/alerts', PAGES.alerts);
    page('/audit', PAGES.audit);
    page('/operators', PAGES.operators);
  };
}
