/**
 * The console's pages: each is a server-rendered shell (navigation, headings, the containers its
 * client module fills) plus one client module that reads and acts through /admin/v1 with the
 * operator's session. The shells hold no data, so a page is never a second way to read what the
 * admin API guards: what the console shows and does is exactly what the API allows that operator.
 */

export type Vendor = 'uplot' | 'graph';

export interface PageSpec {
  /** The client module under assets/pages/. */
  module: string;
  title: string;
  /** The navigation entry it belongs to (absent: not in the navigation). */
  nav?: string;
  vendors?: Vendor[];
  /** The sign-in page is the only one shown without a session. */
  public?: boolean;
}

export const PAGES = {
  signIn: { module: 'sign-in', title: 'Sign in', public: true },
  overview: { module: 'overview', title: 'Overview', nav: 'overview', vendors: ['uplot'] },
  campaigns: { module: 'campaigns', title: 'Campaigns', nav: 'campaigns' },
  campaign: { module: 'campaign', title: 'Campaign', nav: 'campaigns', vendors: ['graph'] },
  incidents: { module: 'incidents', title: 'Incidents', nav: 'incidents' },
  incident: { module: 'incident', title: 'Incident', nav: 'incidents' },
  accounts: { module: 'accounts', title: 'Accounts', nav: 'accounts' },
  decisions: { module: 'decisions', title: 'Decisions', nav: 'decisions' },
  policy: { module: 'policy', title: 'Policy', nav: 'policy' },
  webhooks: { module: 'webhooks', title: 'Webhooks', nav: 'webhooks' },
  alerts: { module: 'alerts', title: 'Alerts', nav: 'alerts' },
  audit: { module: 'audit', title: 'Audit', nav: 'audit' },
  operators: { module: 'operators', title: 'Operators', nav: 'operators' },
} satisfies Record<string, PageSpec>;

const NAV: Array<[string, string]> = [
  ['overview', 'Overview'],
  ['campaigns', 'Campaigns'],
  ['incidents', 'Incidents'],
  ['accounts', 'Accounts'],
  ['decisions', 'Decisions'],
  ['policy', 'Policy'],
  ['webhooks', 'Webhooks'],
  ['alerts', 'Alerts'],
  ['audit', 'Audit'],
  ['operators', 'Operators'],
];

const VENDOR_SCRIPTS: Record<Vendor, string[]> = {
  uplot: ['/dashboard/vendor/uplot.js'],
  graph: ['/dashboard/vendor/graphology.js', '/dashboard/vendor/sigma.js'],
};

const VENDOR_STYLES: Partial<Record<Vendor, string[]>> = { uplot: ['/dashboard/vendor/uplot.css'] };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * The HTML of a page. `params` are the path's own parameters (a campaign or account id, already
 * checked against their pattern), handed to the client module as data attributes. No inline script
 * or style: the Content-Security-Policy allows only this origin's files.
 */
export function renderPage(page: PageSpec, params: Record<string, string> = {}): string {
  const vendors = page.vendors ?? [];
  const styles = ['/dashboard/assets/console.css', ...vendors.flatMap((v) => VENDOR_STYLES[v] ?? [])];
  const scripts = vendors.flatMap((v) => VENDOR_SCRIPTS[v]);
  const data = Object.entries(params)
    .map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`)
    .join('');
  const nav = page.public
    ? ''
    : `<nav class="top"><a class="brand" href="/dashboard/overview">findguard</a>${NAV.map(
        ([key, label]) => `<a href="/dashboard/${key}"${key === page.nav ? ' aria-current="page"' : ''}>${label}</a>`,
      ).join('')}<span class="who" id="who"></span><button type="button" id="sign-out" hidden>Sign out</button></nav>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${escapeHtml(page.title)} · findguard</title>
${styles.map((s) => `<link rel="stylesheet" href="${s}">`).join('\n')}
${scripts.map((s) => `<script src="${s}" defer></script>`).join('\n')}
<script type="module" src="/dashboard/assets/pages/${page.module}.js"></script>
</head>
<body>
${nav}
<main id="page" data-page="${page.module}"${data}>
<h1>${escapeHtml(page.title)}</h1>
<p class="status" id="status" role="status">Loading…</p>
</main>
</body>
</html>
`;
}
