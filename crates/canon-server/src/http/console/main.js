// The console's entry point: log-in and log-out, and hash routes to the views.
//   #/catalog  #/dataset/NAME  #/lineage  #/lineage/NAME  #/sql  #/history
// The token is kept in sessionStorage only; it never goes into the URL or the page.

import * as api from './api.js';
import * as store from './store.js';
import * as catalog from './catalog.js';
import * as dataset from './dataset.js';
import * as lineage from './lineage.js';
import * as editor from './editor.js';
import * as history from './history.js';
import { replace } from './dom.js';

const ROUTES = [
  { path: /^\/catalog$/, view: catalog, section: 'catalog', title: 'Catalog' },
  { path: /^\/dataset\/(.+)$/, view: dataset, section: 'catalog', title: 'Contract' },
  { path: /^\/lineage(?:\/(.+))?$/, view: lineage, section: 'lineage', title: 'Lineage' },
  { path: /^\/sql$/, view: editor, section: 'sql', title: 'SQL' },
  { path: /^\/history$/, view: history, section: 'history', title: 'History' },
];

const $ = (id) => document.getElementById(id);
const page = {
  login: $('login-view'),
  form: $('login-form'),
  token: $('token'),
  button: $('login'),
  error: $('login-error'),
  app: $('app'),
  view: $('view'),
  logout: $('logout'),
};

// Each route change starts a new generation; a view still loading from an older one sees
// `live()` turn false and leaves the page alone.
let generation = 0;

function route() {
  generation += 1;
  if (!api.token.get()) return;
  const mine = generation;
  const live = () => mine === generation;
  const hash = location.hash.replace(/^#/, '');
  const match = ROUTES.map((r) => ({ r, m: hash.match(r.path) })).find(({ m }) => m);
  if (!match) {
    location.replace('#/catalog');
    return;
  }
  const params = match.m.slice(1).map((p) => {
    if (p === undefined) return undefined;
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  for (const link of document.querySelectorAll('nav a[data-section]')) {
    if (link.dataset.section === match.r.section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${params[0] ? `${params[0]} · ` : ''}${match.r.title} · Canon`;
  window.scrollTo(0, 0);
  Promise.resolve().then(() => match.r.view.render(page.view, params, live)).catch((e) => {
    // A view's own errors show in the view; this is for mistakes of the console itself.
    console.error(e);
  });
}

function showLogin(message) {
  generation += 1; // abandon whatever was loading
  page.app.hidden = true;
  replace(page.view);
  page.login.hidden = false;
  page.error.hidden = !message;
  page.error.textContent = message ?? '';
  page.token.value = '';
  page.token.focus();
}

function showApp() {
  page.login.hidden = true;
  page.error.hidden = true;
  page.app.hidden = false;
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    location.replace('#/catalog'); // its hashchange routes
    return;
  }
  route();
}

/** Drops the token and everything fetched or typed with it. */
function forget() {
  api.token.clear();
  sessionStorage.removeItem('canon.sql');
  store.reset();
  editor.reset();
}

page.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const candidate = page.token.value.trim();
  if (!candidate) return;
  // A header cannot carry other characters, and fetch's complaint would not say why.
  if (!/^[\x21-\x7e]+$/.test(candidate)) {
    page.error.textContent = 'A token holds visible ASCII characters only.';
    page.error.hidden = false;
    return;
  }
  page.button.disabled = true;
  page.error.hidden = true;
  try {
    const list = await api.datasets(candidate);
    api.token.set(candidate);
    page.token.value = '';
    store.seedCatalog(list);
    showApp();
  } catch (e) {
    page.error.textContent = e.unauthorized ? `The token was refused: ${e.message}` : e.message;
    page.error.hidden = false;
    page.token.select();
  } finally {
    page.button.disabled = false;
  }
});

page.logout.addEventListener('click', () => {
  forget();
  showLogin();
});

// Any request the server refuses for want of a valid token returns to log-in.
api.onUnauthorized((e) => {
  forget();
  showLogin(`Log in again: the server no longer accepts the token (${e.message}).`);
});

window.addEventListener('hashchange', route);

if (api.token.get()) {
  showApp();
} else {
  showLogin();
}
