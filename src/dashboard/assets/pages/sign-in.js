import { actionForm, api, ApiError, field, h, status } from '../console.js';

// Name, password and the current TOTP code in one step: the API answers the same refusal whichever
// of the three was wrong, so the form does not tell an attacker which one to keep guessing.
const main = document.getElementById('page');
main.classList.add('signin');
status('');

const form = h(
  'form',
  { class: 'stack', id: 'sign-in', autocomplete: 'on' },
  field('Operator name', h('input', { name: 'name', autocomplete: 'username', required: true, maxlength: 64 })),
  field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
  field('Authenticator code', h('input', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', required: true, maxlength: 6 })),
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
);

actionForm(form, async (v) => {
  try {
    await api('POST', '/session', { name: v.name, password: v.password, totp: v.totp });
  } catch (err) {
    if (err instanceof ApiError && err.status === 429) throw new Error('Too many attempts: wait a little and try again.');
    if (err instanceof ApiError && err.status === 401) throw new Error('Name, password or code not accepted.');
    throw err;
  }
  // The session cookie is __Host- and Secure: a browser keeps it over https:// and on
  // http://localhost or 127.0.0.1 only. Say so, rather than loop back to this form.
  try {
    await api('GET', '/session');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      throw new Error('Signed in, but this browser did not keep the Secure session cookie: open the console over https://, or on http://localhost or http://127.0.0.1.');
    }
    throw err;
  }
  const back = sessionStorage.getItem('fg-return');
  sessionStorage.removeItem('fg-return');
  location.assign(back && back.startsWith('/dashboard/') && !back.startsWith('/dashboard/sign-in') ? back : '/dashboard/overview');
  return 'Signed in.';
});

main.append(form);
if (main.dataset.oidc === 'true') {
  main.append(h('p', {}, 'Or ', h('a', { href: '/admin/v1/oidc/login', id: 'oidc' }, 'sign in with your organisation (OIDC)'), '.'));
}
