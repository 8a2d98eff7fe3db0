// A dataset's or model's contract page: what it is and where it lives, its columns with
// their keys, partitioning and ordering, its constraints and DDL, what registration noted,
// its files and statistics, a Delta table's history and a model's build state.

import * as api from './api.js';
import * as store from './store.js';
import * as editor from './editor.js';
import { h, replace, errorBox, loading, kindBadge, objectTable, cell, routes, sqlName } from './dom.js';

const list = (value) => (Array.isArray(value) ? value : []);

export async function render(view, [name], live) {
  replace(view, h('div', { id: 'dataset-page' }, h('h1', {}, name), loading('the contract')));
  // System tables have no page of their own: the catalog's entry is all there is.
  const summary = await findEntry(name).catch(() => null);
  let page = null;
  let problem = null;
  if (summary?.kind !== 'system') {
    try {
      page = await api.dataset(name);
    } catch (e) {
      problem = e;
    }
  }
  if (!live()) return;

  let content;
  if (page) {
    content = contract(page);
  } else if (summary) {
    // Without a page, show what the catalog lists (and why there is no more).
    content = contract(summary, problem?.status === 404 ? null : problem);
  } else {
    content = [h('h1', {}, name), errorBox(problem ?? new Error(`No dataset or model named ${name}.`))];
  }
  replace(view, h('div', { id: 'dataset-page' }, content));
}

async function findEntry(name) {
  const all = await store.catalog();
  return all.find((d) => d?.name === name) ?? null;
}

function contract(d, problem = null) {
  const name = d.name;
  const query = `SELECT * FROM ${sqlName(name)} LIMIT 100`;
  const openInEditor = h('a', { href: '#/sql', class: 'button-link' }, 'Query in SQL');
  openInEditor.addEventListener('click', () => editor.load(query));

  return [
    h('div', { class: 'page-head' },
      h('h1', {}, name, ' ', kindBadge(d.kind)),
      h('div', { class: 'actions' },
        d.kind === 'system' ? null : h('a', { href: routes.lineage(name), class: 'button-link' }, 'Lineage'),
        openInEditor)),
    problem ? errorBox(problem) : null,
    d.description ? h('p', { class: 'description' }, d.description) : null,
    facts(d),
    section('Columns', columnsTable(d)),
    list(d.constraints).length
      ? section('Constraints', h('ul', { class: 'constraints' },
        list(d.constraints).map((c) =>
          h('li', {}, h('code', {}, typeof c === 'string' ? c : JSON.stringify(c))))))
      : null,
    d.ddl ? section('DDL', h('pre', { id: 'ddl', class: 'sql' }, d.ddl)) : null,
    list(d.notes).length
      ? section('Notes', h('ul', { class: 'notes' }, list(d.notes).map((n) => h('li', {}, String(n)))))
      : null,
    d.state && typeof d.state === 'object' ? section('Model state', keyValues(d.state, 'model-state')) : null,
    list(d.describe).length
      ? section('Files and statistics',
        h('div', { class: 'table-scroll' }, objectTable(list(d.describe), { id: 'describe-table' })))
      : null,
    list(d.history).length ? section('History', history(list(d.history))) : null,
    d.kind === 'system'
      ? h('p', { class: 'muted' }, 'A system table of the server: it has columns but no contract.')
      : null,
  ];
}

function section(title, ...content) {
  return h('section', { class: 'panel' }, h('h2', {}, title), content);
}

function facts(d) {
  const rows = [
    ['Kind', d.kind],
    ['Format', d.format],
    ['Location', d.location],
    ['Schema fingerprint', d.schema_fingerprint],
  ].filter(([, v]) => v !== null && v !== undefined && v !== '');
  return h('dl', { class: 'facts' },
    rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, h('code', {}, String(v)))]));
}

function columnsTable(d) {
  const primary = new Set(list(d.primary_key));
  const unique = list(d.unique).filter(Array.isArray);
  const partitioned = list(d.partitioned_by);
  const ordered = list(d.ordered_by);

  const markers = (column) => {
    const out = [];
    if (primary.has(column)) {
      out.push(marker('PK', 'key', `Primary key (${list(d.primary_key).join(', ')})`));
    }
    for (const set of unique.filter((u) => u.includes(column))) {
      out.push(marker('UQ', 'unique', `Unique (${set.join(', ')})`));
    }
    const p = partitioned.indexOf(column);
    if (p >= 0) out.push(marker(`P${p + 1}`, 'partition', `Partition column ${p + 1} of ${partitioned.length}`));
    const o = ordered.indexOf(column);
    if (o >= 0) out.push(marker(`O${o + 1}`, 'order', `Sort key ${o + 1} of ${ordered.length}`));
    return out;
  };

  const columns = list(d.columns);
  return [
    h('div', { class: 'table-scroll' },
      h('table', { id: 'columns-table', class: 'data' },
        h('thead', {}, h('tr', {},
          ['Name', 'Type', 'Nullable', 'Tags', 'Keys'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, columns.map((c) => h('tr', {},
          h('td', {}, h('code', {}, c?.name ?? '')),
          h('td', {}, h('code', { class: 'type' }, c?.type ?? '')),
          h('td', {}, c?.nullable === false ? 'not null' : c?.nullable === true ? 'nullable' : ''),
          h('td', {}, list(c?.tags).map((t) => h('span', { class: 'tag' }, t))),
          h('td', { class: 'markers' }, markers(c?.name))))))),
    h('p', { class: 'legend muted' },
      'PK primary key · UQ unique · Pn partition column n · On sort key n'),
  ];
}

function marker(text, kind, title) {
  return h('span', { class: `marker ${kind}`, title, 'aria-label': title }, text);
}

function history(entries) {
  const failed = entries.find((e) => e?.error);
  if (failed) return errorBox(new Error(String(failed.error)));
  return h('div', { class: 'table-scroll' },
    h('table', { id: 'history-table', class: 'data' },
      h('thead', {}, h('tr', {}, ['Version', 'Time', 'Operation', 'Info'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, entries.map((e) => h('tr', {},
        h('td', { class: 'num' }, cell(e.version)),
        h('td', {}, cell(e.time)),
        h('td', {}, cell(e.operation)),
        h('td', {}, cell(e.info)))))));
}

/** An object as a definition list; nested values as JSON. */
function keyValues(object, id) {
  return h('dl', { id, class: 'facts' },
    Object.entries(object).map(([k, v]) => [
      h('dt', {}, k),
      h('dd', {}, v !== null && typeof v === 'object'
        ? h('pre', {}, JSON.stringify(v, null, 2))
        : cell(v)),
    ]));
}
