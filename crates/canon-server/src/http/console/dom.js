// Small DOM helpers. Everything the server sends goes into the page as text nodes or
// attribute values, never as markup, so a dataset name or an error message cannot inject
// anything; and nothing sets a `style` attribute, so a strict CSP needs no exceptions.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Creates an element: `attrs` sets attributes (`class`, `data-*`, `aria-*`, …; a value of
 * null/undefined/false leaves it out, true sets it empty), `on` adds listeners, and
 * children are nodes or strings (added as text).
 */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same as `h`, for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (name === 'on') {
      for (const [event, listener] of Object.entries(value)) {
        element.addEventListener(event, listener);
      }
    } else if (value === true) {
      element.setAttribute(name, '');
    } else if (value !== null && value !== undefined && value !== false) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends nodes and strings (as text), skipping null/undefined/false; arrays flatten. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces an element's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** A value as table-cell text: objects as compact JSON, null as a marked NULL. */
export function cell(value) {
  if (value === null || value === undefined) return h('span', { class: 'null' }, 'NULL');
  if (typeof value === 'object') return h('code', {}, JSON.stringify(value));
  return String(value);
}

/**
 * A table of row objects whose columns are the union of their keys, in first-seen order
 * (rows may leave keys out).
 */
export function objectTable(rows, attrs = {}) {
  const keys = [];
  const seen = new Set();
  for (const row of rows) {
    for (const key of Object.keys(row ?? {})) {
      if (!seen.has(key)) {
        seen.add(key);
        keys.push(key);
      }
    }
  }
  return h('table', { class: 'data', ...attrs },
    h('thead', {}, h('tr', {}, keys.map((k) => h('th', { scope: 'col' }, k)))),
    h('tbody', {}, rows.map((row) => h('tr', {},
      keys.map((k) => h('td', { class: numeric(row?.[k]) ? 'num' : null }, cell(row?.[k])))))));
}

export function numeric(value) {
  return typeof value === 'number' || (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value));
}

/** A box showing an ApiError: policy refusals stand apart from other errors. */
export function errorBox(error, { id, refusalId } = {}) {
  const message = error?.message ?? String(error);
  if (error?.refused) {
    return h('div', { id: refusalId, class: 'refusal', role: 'alert' },
      h('strong', {}, 'Refused by policy'),
      h('pre', {}, message));
  }
  return h('pre', { id, class: 'error', role: 'alert' }, message);
}

/** A "loading" placeholder, announced to screen readers. */
export function loading(what) {
  return h('p', { class: 'muted', role: 'status' }, `Loading ${what}…`);
}

/** The route to a dataset's contract page, and to its lineage. */
export const routes = {
  dataset: (name) => `#/dataset/${encodeURIComponent(name)}`,
  lineage: (name) => (name ? `#/lineage/${encodeURIComponent(name)}` : '#/lineage'),
};

/** Models are the kinds a project builds; "dataset" and "system" are read as they are. */
export const MODEL_KINDS = new Set(['table', 'append', 'merge', 'view']);

export function kindClass(kind) {
  if (MODEL_KINDS.has(kind)) return 'kind-model';
  if (kind === 'dataset') return 'kind-dataset';
  if (kind === 'system') return 'kind-system';
  return 'kind-other';
}

/** A small badge naming a dataset's kind. */
export function kindBadge(kind) {
  return h('span', { class: `badge ${kindClass(kind)}` }, kind ?? 'unknown');
}

/**
 * A name as a SQL reference: plain identifiers as they are, others double-quoted; a dotted
 * name (`canon.queries`) is quoted part by part, as a schema-qualified table.
 */
export function sqlName(name) {
  return String(name).split('.').map((part) =>
    (/^[a-z_][a-z0-9_]*$/.test(part) ? part : `"${part.replaceAll('"', '""')}"`)).join('.');
}
