// The SQL view: an editor, Run and Explain. Statements run in this tab's kept session (see
// api.js), so `SET` carries over to the next statement. The view is built once and kept,
// so the statement and its results are still there when the user comes back.

import * as api from './api.js';
import { parsePlan, planTree } from './plan.js';
import { h, replace, errorBox, objectTable } from './dom.js';

/** Rows shown in the grid; the rest are counted, not drawn. */
const SHOWN = 1000;
const DRAFT_KEY = 'canon.sql';

let root = null;
let parts = null;

/** Attaches the (kept) SQL view to `view`. */
export function render(view) {
  build();
  replace(view, root);
  parts.sql.focus();
}

/** Puts a statement in the editor (from the history or a contract page). */
export function load(statement) {
  build();
  parts.sql.value = statement;
  sessionStorage.setItem(DRAFT_KEY, statement);
}

/** Forgets the view, its statement and results (on log-out). */
export function reset() {
  root = null;
  parts = null;
}

function build() {
  if (root) return;
  const sql = h('textarea', {
    id: 'sql', class: 'sql', rows: 10, spellcheck: 'false', autocomplete: 'off',
    autocapitalize: 'off', 'aria-describedby': 'sql-hint',
  });
  sql.value = sessionStorage.getItem(DRAFT_KEY) ?? 'SELECT 1 AS one';
  const run = h('button', { id: 'run', type: 'button', class: 'primary' }, 'Run');
  const explain = h('button', { id: 'explain', type: 'button' }, 'Explain');
  const status = h('span', { id: 'sql-status', role: 'status', 'data-state': 'idle', 'data-run': '0' }, 'Ready');
  const output = h('div', { id: 'sql-output' });
  parts = { sql, run, explain, status, output };

  run.addEventListener('click', () => go('run'));
  explain.addEventListener('click', () => go('explain'));
  sql.addEventListener('input', () => sessionStorage.setItem(DRAFT_KEY, sql.value));
  sql.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      go(event.shiftKey ? 'explain' : 'run');
    }
  });

  root = h('div', { id: 'sql-view' },
    h('h1', {}, 'SQL'),
    h('label', { for: 'sql' }, 'Statement'),
    sql,
    h('div', { class: 'toolbar' },
      run, explain,
      h('span', { id: 'sql-hint', class: 'muted' },
        'Ctrl+Enter runs, Ctrl+Shift+Enter explains (⌘ on a Mac); a selection runs alone.'),
      status),
    output);
}

/** The selected text if there is a selection, else the whole editor. */
function statement() {
  const { sql } = parts;
  const selected = sql.value.slice(sql.selectionStart, sql.selectionEnd);
  return (selected.trim() ? selected : sql.value).trim();
}

async function go(action) {
  const text = statement();
  if (!text || parts.run.disabled) return;
  const { run, explain, status, output } = parts;
  // `data-run` counts attempts, so a watcher (the browser check) can tell this answer
  // from the previous one.
  status.dataset.run = String(Number(status.dataset.run) + 1);
  status.dataset.state = 'running';
  status.textContent = action === 'run' ? 'Running…' : 'Explaining…';
  run.disabled = true;
  explain.disabled = true;
  output.replaceChildren();
  const started = performance.now();
  try {
    if (action === 'run') {
      const rows = await api.sql(text);
      const ms = Math.round(performance.now() - started);
      replace(output, results(rows));
      const count = `${rows.length.toLocaleString()} ${rows.length === 1 ? 'row' : 'rows'}`;
      status.textContent = `${count} · ${ms.toLocaleString()} ms`;
    } else {
      const explanation = await api.explain(text);
      const ms = Math.round(performance.now() - started);
      replace(output, explained(explanation ?? {}));
      status.textContent = `Explained · ${ms.toLocaleString()} ms`;
    }
    status.dataset.state = 'done';
  } catch (e) {
    replace(output, errorBox(e, { id: 'sql-error', refusalId: 'policy-refusal' }));
    status.dataset.state = e?.refused ? 'refused' : 'error';
    status.textContent = e?.refused ? 'Refused' : 'Failed';
  } finally {
    run.disabled = false;
    explain.disabled = false;
  }
}

function results(rows) {
  const shown = rows.slice(0, SHOWN);
  const table = rows.length
    ? objectTable(shown, { id: 'results', class: 'data results' })
    : h('table', { id: 'results', class: 'data results' }, h('thead'), h('tbody'));
  return [
    rows.length > SHOWN
      ? h('p', { id: 'results-note', class: 'note' },
        `Showing the first ${SHOWN.toLocaleString()} of ${rows.length.toLocaleString()} rows.`)
      : null,
    rows.length === 0 ? h('p', { class: 'muted' }, 'The statement returned no rows.') : null,
    h('div', { class: 'table-scroll results-scroll' }, table),
  ];
}

function explained(x) {
  const lineage = x.lineage ?? {};
  const columns = Array.isArray(lineage.columns) ? lineage.columns : [];
  const influences = Object.entries(lineage.influences ?? {});
  const tables = Array.isArray(lineage.tables) ? lineage.tables : [];
  return h('section', { id: 'explain-output', class: 'panel' },
    h('dl', { class: 'facts' },
      h('dt', {}, 'Fingerprint'), h('dd', {}, h('code', { id: 'fingerprint' }, x.fingerprint ?? '—')),
      h('dt', {}, 'Tables read'),
      h('dd', {}, tables.length ? tables.map((t) => h('code', { class: 'chip' }, t)) : '—')),
    h('h2', {}, 'Canonical SQL'),
    x.canonical_sql
      ? h('pre', { id: 'canonical-sql', class: 'sql' }, x.canonical_sql)
      : h('p', { class: 'muted' }, x.canonical_sql_error ?? 'No canonical SQL for this statement.'),
    h('h2', {}, 'Column lineage'),
    columns.length ? lineageTable(columns) : h('p', { class: 'muted' }, 'No output columns.'),
    influences.length ? [
      h('h3', {}, 'Columns that shape the rows'),
      h('table', { id: 'influence-table', class: 'data' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Source column'), h('th', { scope: 'col' }, 'How'))),
        h('tbody', {}, influences.map(([source, how]) => h('tr', {},
          h('td', {}, h('code', {}, source)),
          h('td', {}, (Array.isArray(how) ? how : [how]).map((k) => h('span', { class: 'tag' }, k)))))))]
      : null,
    h('h2', {}, 'Plan'),
    plans(x));
}

function lineageTable(columns) {
  return h('table', { id: 'lineage-table', class: 'data' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Output column'), h('th', { scope: 'col' }, 'Comes from'))),
    h('tbody', {}, columns.map((c) => {
      const sources = Array.isArray(c?.sources) ? c.sources : [];
      return h('tr', {},
        h('td', {}, h('code', {}, c?.name ?? '')),
        h('td', {}, sources.length
          ? sources.map((src) => h('span', { class: 'source' },
            h('code', {}, src),
            c?.kinds?.[src] ? [' ', h('span', { class: `badge lineage-${c.kinds[src]}` }, c.kinds[src])] : null))
          : h('span', { class: 'muted' }, 'no column (a constant or a count)')));
    })));
}

/** The physical plan's tree, with a toggle to the optimized logical plan. */
function plans(x) {
  const choices = [
    { id: 'plan-physical', label: 'Physical', text: x.physical_plan },
    { id: 'plan-optimized', label: 'Optimized logical', text: x.optimized_plan },
  ];
  const holder = h('div', { class: 'plan-holder' });
  const buttons = choices.map((choice) => {
    const button = h('button',
      { id: choice.id, type: 'button', class: 'toggle', 'aria-pressed': 'false' }, choice.label);
    button.addEventListener('click', () => show(choice));
    return button;
  });
  function show(choice) {
    buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.id === choice.id)));
    const roots = parsePlan(choice.text);
    replace(holder, roots.length ? planTree(roots) : h('p', { class: 'muted' }, 'No plan.'));
  }
  show(choices[0]);
  return [h('div', { class: 'segmented', role: 'group', 'aria-label': 'Plan' }, buttons), holder];
}
