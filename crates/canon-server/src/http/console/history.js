// The statements the user ran lately, over any protocol, newest first. A statement opens
// in the SQL editor with a click; long ones are cut short and unfold in place.

import * as api from './api.js';
import * as editor from './editor.js';
import { h, replace, errorBox, loading, cell } from './dom.js';

const LIMIT = 200;

export async function render(view, _params, live) {
  const refresh = h('button', { id: 'history-refresh', type: 'button' }, 'Refresh');
  const body = h('div', { class: 'history-body' }, loading('recent statements'));
  replace(view,
    h('div', { class: 'page-head' },
      h('h1', {}, 'History'),
      h('div', { class: 'actions' }, refresh)),
    h('p', { class: 'muted' }, `Your last ${LIMIT} statements, over every protocol, newest first. `
      + 'Click a statement to open it in the editor.'),
    body);

  const fill = async () => {
    refresh.disabled = true;
    try {
      const queries = await api.queries(LIMIT);
      if (live()) replace(body, table(queries));
    } catch (e) {
      if (live()) replace(body, errorBox(e));
    } finally {
      refresh.disabled = false;
    }
  };
  refresh.addEventListener('click', fill);
  await fill();
}

function table(queries) {
  const headings = ['At', 'Protocol', 'Statement', 'Fingerprint', 'ms', 'Rows', 'Error'];
  return h('div', { class: 'table-scroll' },
    h('table', { id: 'history', class: 'data history' },
      h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, queries.length
        ? queries.map(row)
        : h('tr', {}, h('td', { colspan: headings.length, class: 'muted' }, 'No statements yet.')))));
}

function row(q) {
  const statement = String(q?.statement ?? '');
  const fingerprint = String(q?.fingerprint ?? '');
  const error = q?.error ? String(q.error) : '';

  const open = h('button', { type: 'button', class: 'statement', title: statement }, statement);
  open.addEventListener('click', () => {
    editor.load(statement);
    location.hash = '#/sql';
  });
  const unfold = h('button', {
    type: 'button', class: 'unfold quiet', 'aria-expanded': 'false', 'aria-label': 'Show the whole statement',
  }, '▸');
  const tr = h('tr', { class: error ? 'failed' : null },
    h('td', { class: 'when' }, when(q?.at)),
    h('td', {}, q?.protocol ?? ''),
    h('td', { class: 'statement-cell' }, h('div', { class: 'statement-wrap' }, unfold, open)),
    h('td', {}, fingerprint ? h('code', { title: fingerprint }, fingerprint.slice(0, 12)) : ''),
    h('td', { class: 'num' }, cell(q?.duration_ms)),
    h('td', { class: 'num' }, cell(q?.rows)),
    h('td', { class: 'error-cell', title: error || null }, error));
  unfold.addEventListener('click', () => {
    const unfolded = tr.classList.toggle('unfolded');
    unfold.setAttribute('aria-expanded', String(unfolded));
    unfold.textContent = unfolded ? '▾' : '▸';
  });
  return tr;
}

/** A time in the reader's zone, with the server's exact text on hover. */
function when(at) {
  if (!at) return '';
  const date = new Date(at);
  const text = Number.isNaN(date.getTime()) ? String(at) : date.toLocaleString();
  return h('time', { datetime: String(at), title: String(at) }, text);
}
