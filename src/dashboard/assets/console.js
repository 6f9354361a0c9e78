// The console's shared client code: the admin API with the session cookie (and the CSRF token on
// every state change), the signed-in check, and small DOM helpers. Pages build their content with
// textContent, never innerHTML, so nothing the API returns is ever parsed as markup.

const API = '/admin/v1';
const SIGN_IN = '/dashboard/sign-in';
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** A call to /admin/v1; the JSON answer, or an ApiError with the coded error. */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(API + path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    // The API's coded error (src/errors.ts): { error: { code, message, details } }.
    const error = data && typeof data.error === 'object' && data.error !== null ? data.error : {};
    if (res.status === 401 && error.code === 'not_signed_in' && location.pathname !== SIGN_IN) toSignIn();
    throw new ApiError(res.status, error.code, error.message, error.details);
  }
  return data;
}

export function setCsrfToken(token) {
  csrfToken = token;
}

function toSignIn() {
  // Where to come back to: a console path (ids at most, never a handle), kept in this tab only.
  sessionStorage.setItem('fg-return', location.pathname + location.search);
  location.assign(SIGN_IN);
}

/** Signs the page in: the operator, or a redirect to the sign-in page. */
export async function boot(render) {
  let session;
  try {
    session = await api('GET', '/session');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return toSignIn();
    return fail(err);
  }
  setCsrfToken(session.csrfToken);
  const who = document.getElementById('who');
  if (who) who.textContent = `${session.operator.name} (${session.operator.role})`;
  const out = document.getElementById('sign-out');
  if (out) {
    out.hidden = false;
    out.addEventListener('click', async () => {
      try {
        await api('DELETE', '/session');
      } finally {
        location.assign(SIGN_IN);
      }
    });
  }
  const main = document.getElementById('page');
  try {
    await render(main, session.operator);
    status('');
  } catch (err) {
    fail(err);
  }
}

export function status(text, kind) {
  const el = document.getElementById('status');
  if (!el) return;
  el.textContent = text;
  el.className = `status${kind ? ` ${kind}` : ''}`;
  el.hidden = !text;
}

export function fail(err) {
  const msg = err instanceof ApiError ? `${err.code || 'error'}: ${err.message}` : String(err && err.message ? err.message : err);
  status(msg, 'error');
  console.error(err);
}

/** h('a', { href }, 'text', child...): an element; attributes set as properties or attributes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function section(title, ...children) {
  return h('section', {}, h('h2', {}, title), ...children);
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined || ms === '') return '—';
  const d = new Date(typeof ms === 'number' ? ms : Date.parse(ms));
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtCell(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const TIME_KEY = /(At|^at|^t|Time|^from|^to|^created|^expires)$/;

/**
 * A table of rows; columns as [key, label, render?]. Without columns, every key of the first rows.
 * Keys ending in At are times.
 */
export function table(rows, columns, opts = {}) {
  if (!rows || rows.length === 0) return h('p', { class: 'none' }, opts.empty || 'None.');
  const cols =
    columns ||
    [...new Set(rows.slice(0, 20).flatMap((r) => Object.keys(r)))].map((k) => [k, k]);
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: opts.class || '' },
      h('thead', {}, h('tr', {}, cols.map(([, label]) => h('th', {}, label)))),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            opts.rowAttrs ? opts.rowAttrs(r) : {},
            cols.map(([key, , render]) => {
              const v = r[key];
              if (render) return h('td', {}, render(v, r));
              return h('td', { class: typeof v === 'number' ? 'n' : '' }, TIME_KEY.test(key) && typeof v === 'number' ? fmtTime(v) : fmtCell(v));
            }),
          ),
        ),
      ),
    ),
  );
}

/** An object as a two-column table (nested objects as their own tables). */
export function facts(obj) {
  if (!obj || typeof obj !== 'object') return h('p', {}, fmtCell(obj));
  return h(
    'table',
    { class: 'facts' },
    h(
      'tbody',
      {},
      Object.entries(obj).map(([k, v]) =>
        h(
          'tr',
          {},
          h('th', {}, k),
          h(
            'td',
            {},
            Array.isArray(v)
              ? v.length && typeof v[0] === 'object'
                ? table(v)
                : v.map(fmtCell).join(', ') || '—'
              : v && typeof v === 'object'
                ? facts(v)
                : TIME_KEY.test(k) && typeof v === 'number'
                  ? fmtTime(v)
                  : fmtCell(v),
          ),
        ),
      ),
    ),
  );
}

/** The fields of a form as an object (empty strings left out). */
export function formValues(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}

/**
 * A form whose submit calls `action(values)`; its result or error shown beside it. The button is
 * disabled while the call runs, so a double click is one action.
 */
export function actionForm(form, action) {
  const out = h('p', { class: 'result', role: 'status' });
  form.append(out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => (b.disabled = true));
    out.textContent = '';
    out.className = 'result';
    try {
      const msg = await action(formValues(form), e.submitter);
      if (msg) out.textContent = msg;
    } catch (err) {
      out.className = 'result error';
      out.textContent = err instanceof ApiError ? `${err.code || 'error'}: ${err.message}` : String(err && err.message ? err.message : err);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
  return form;
}

export function field(label, input) {
  return h('label', {}, h('span', {}, label), input);
}

export function select(name, options, value) {
  return h('select', { name }, options.map(([v, l]) => h('option', { value: v, selected: v === value }, l)));
}

/** Query string of the page (window, status, cursor: never personal data). */
export function query(name) {
  return new URLSearchParams(location.search).get(name);
}

/** A "more" button for cursor pages: calls load(cursor) and appends what it returns. */
export function pager(container, load) {
  let cursor = null;
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More');
  const run = async () => {
    more.disabled = true;
    try {
      const { node, nextCursor } = await load(cursor);
      container.append(node);
      cursor = nextCursor || null;
      more.hidden = !cursor;
    } catch (err) {
      fail(err);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', run);
  container.after(more);
  return run();
}
