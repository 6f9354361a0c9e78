import { api, boot, fail, fmtTime, h, section, status, table } from '../console.js';

// Alerts: the routes of the policy's alerts section (which conditions go to which Slack channel or
// PagerDuty service; the secrets' variable names and whether they are set, never the secrets) with a
// test button per route for admins, and the recent alerts with the state of each delivery.

function sinks(route) {
  const parts = [];
  if (route.slack) parts.push(`Slack (${route.slack.webhookUrlEnv}${route.slack.configured ? '' : ', not set'})`);
  if (route.pagerduty) parts.push(`PagerDuty (${route.pagerduty.routingKeyEnv}${route.pagerduty.severity ? `, ${route.pagerduty.severity}` : ''}${route.pagerduty.configured ? '' : ', not set'})`);
  return parts.join(' · ');
}

function deliveries(list) {
  if (!list || list.length === 0) return 'no route';
  return list.map((d) => `${d.route}/${d.sink}: ${d.state}${d.attempts > 1 ? ` after ${d.attempts} attempts` : ''}${d.lastError && d.state !== 'delivered' ? ` (${d.lastError})` : ''}`).join('; ');
}

boot(async (main, operator) => {
  const routesBox = h('div', { id: 'alert-routes' });
  const recentBox = h('div', { id: 'alert-recent' });
  main.append(section('Routes', routesBox), section('Recent alerts', recentBox));

  async function load() {
    const data = await api('GET', '/alerts?limit=100');
    routesBox.replaceChildren(
      table(
        data.routes,
        [
          ['name', 'route'],
          ['on', 'conditions', (v) => v.join(', ')],
          ['name', 'sinks', (_v, r) => sinks(r)],
          ...(operator.role === 'admin'
            ? [[
                'name',
                '',
                (v) =>
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'test-alert',
                      'data-route': v,
                      onclick: async (e) => {
                        e.target.disabled = true;
                        try {
                          await api('POST', `/alerts/routes/${encodeURIComponent(v)}/test`, {});
                          status(`Test alert queued for ${v}`);
                          await load();
                        } catch (err) {
                          fail(err);
                        } finally {
                          e.target.disabled = false;
                        }
                      },
                    },
                    'Send test alert',
                  ),
              ]]
            : []),
        ],
        { empty: 'No alert routes: add an alerts section to the policy file.' },
      ),
    );
    recentBox.replaceChildren(
      table(
        data.recent,
        [
          ['createdAt', 'at', (v) => fmtTime(v)],
          ['condition', 'condition', (v, r) => `${v}${r.test ? ' (test)' : ''}`],
          ['action', 'action'],
          ['severity', 'severity'],
          ['summary', 'summary'],
          ['subject', 'dedup key'],
          ['deliveries', 'deliveries', (v) => deliveries(v)],
        ],
        { empty: 'No alerts yet.' },
      ),
    );
  }
  await load();
});
