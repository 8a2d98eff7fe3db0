// The catalog: every dataset, model and system table, searchable and paged. Filtering runs
// in memory over a search text built once per dataset, and only the current page is
// rendered, so a catalog of thousands stays instant.

import * as store from './store.js';
import { h, replace, errorBox, loading, kindBadge, routes, MODEL_KINDS } from './dom.js';

const PAGE = 50;

// Kept across visits, so coming back from a contract page finds the same search.
const state = { query: '', kind: 'all', page: 0 };

const KINDS = {
  all: { label: 'All', keep: () => true },
  datasets: { label: 'Datasets', keep: (kind) => kind === 'dataset' },
  models: { label: 'Models', keep: (kind) => MODEL_KINDS.has(kind) },
  system: { label: 'System', keep: (kind) => kind === 'system' },
};

// One search text per dataset list, built on first use.
const indexed = new WeakMap();

function searchable(list) {
  let entries = indexed.get(list);
  if (!entries) {
    entries = list.filter((d) => d?.name).map((d) => ({
      dataset: d,
      text: [
        d?.name, d?.kind, d?.description,
        ...(Array.isArray(d?.columns) ? d.columns.map((c) => c?.name) : []),
      ].filter(Boolean).join('\n').toLowerCase(),
    }));
    indexed.set(list, entries);
  }
  return entries;
}

/** The datasets matching the state's kind and every word of its query. */
function filter(list) {
  const words = state.query.toLowerCase().split(/\s+/).filter(Boolean);
  const keep = KINDS[state.kind]?.keep ?? KINDS.all.keep;
  return searchable(list)
    .filter((e) => keep(e.dataset?.kind) && words.every((w) => e.text.includes(w)))
    .map((e) => e.dataset);
}

/** Renders into `view`; `live()` turns false once the user has gone elsewhere. */
export async function render(view, _params, live) {
  replace(view, h('h1', {}, 'Catalog'), loading('the catalog'));
  let list;
  try {
    list = await store.catalog();
  } catch (e) {
    if (live()) replace(view, h('h1', {}, 'Catalog'), errorBox(e));
    return;
  }
  if (!live()) return;

  const search = h('input', {
    id: 'search', type: 'search', placeholder: 'Name, kind, description or column',
    autocomplete: 'off', spellcheck: 'false', value: state.query,
  });
  const kind = h('select', { id: 'kind-filter' },
    Object.entries(KINDS).map(([value, k]) =>
      h('option', { value, selected: value === state.kind }, k.label)));
  const body = h('tbody');
  const info = h('span', { id: 'page-info', role: 'status' });
  const prev = h('button', { id: 'prev-page', type: 'button' }, '‹ Previous');
  const next = h('button', { id: 'next-page', type: 'button' }, 'Next ›');
  const refresh = h('button', { id: 'catalog-refresh', type: 'button', class: 'quiet' }, 'Refresh');

  const show = () => {
    const matches = filter(list);
    const pages = Math.max(1, Math.ceil(matches.length / PAGE));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    const first = state.page * PAGE;
    const shown = matches.slice(first, first + PAGE);
    replace(body, shown.map(row));
    if (shown.length === 0) {
      replace(body, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No dataset matches.')));
    }
    info.textContent = matches.length === 0
      ? 'No matches'
      : `Showing ${first + 1}–${first + shown.length} of ${matches.length}`;
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  };

  search.addEventListener('input', () => {
    state.query = search.value;
    state.page = 0;
    show();
  });
  kind.addEventListener('change', () => {
    state.kind = kind.value;
    state.page = 0;
    show();
  });
  prev.addEventListener('click', () => { state.page -= 1; show(); });
  next.addEventListener('click', () => { state.page += 1; show(); });
  refresh.addEventListener('click', async () => {
    refresh.disabled = true;
    try {
      list = await store.catalog({ fresh: true });
      show();
    } catch (e) {
      view.append(errorBox(e));
    } finally {
      refresh.disabled = false;
    }
  });

  replace(view,
    h('h1', {}, 'Catalog'),
    h('div', { class: 'toolbar' },
      h('label', { for: 'search', class: 'sr-only' }, 'Search datasets'),
      search,
      h('label', { for: 'kind-filter' }, 'Kind'),
      kind,
      refresh),
    h('div', { class: 'table-scroll' },
      h('table', { id: 'catalog-table', class: 'data' },
        h('thead', {}, h('tr', {},
          ['Name', 'Kind', 'Format', 'Columns', 'Description'].map((t) => h('th', { scope: 'col' }, t)))),
        body)),
    h('div', { class: 'pager' }, prev, info, next));
  show();
  search.focus();
}

function row(d) {
  const columns = Array.isArray(d?.columns) ? d.columns.length : 0;
  return h('tr', {},
    h('td', {}, h('a', { class: 'dataset-link', href: routes.dataset(d.name), 'data-name': d.name }, d.name)),
    h('td', {}, kindBadge(d.kind)),
    h('td', {}, d.format ?? ''),
    h('td', { class: 'num' }, String(columns)),
    h('td', { class: 'description' }, d.description ?? ''));
}
