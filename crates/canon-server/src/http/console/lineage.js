// The lineage view: datasets and models as a left-to-right graph (upstream on the left),
// either whole (when small enough to read) or one node's upstream and downstream closure.
// Clicking a node shows its columns, and column-level lineage is drawn between shown
// columns; double-clicking opens the node's contract page.

import * as store from './store.js';
import { Graph } from './graph.js';
import { layout, curve } from './layout.js';
import { h, s, replace, append, errorBox, loading, routes, kindClass, kindBadge } from './dom.js';

/** More nodes than this are not drawn at once: nobody reads a thousand-node graph. */
const WHOLE_GRAPH_LIMIT = 150;
const HEADER = 44;
const ROW = 20;
const ZOOMS = [0.4, 0.55, 0.7, 0.85, 1, 1.2, 1.5, 2];
/** How long a click on a node waits for a second one (which opens the contract). */
const DOUBLE_CLICK_MS = 250;

// Kept across redraws of one view (and zoom across views).
const state = { zoom: 1, expanded: new Set(), focus: null };
// The node whose edges are lit, so hovering within one node does no work.
let litName = null;

export async function render(view, [focus], live) {
  const root = h('div', { id: 'lineage' }, h('h1', {}, 'Lineage'), loading('the lineage graph'));
  replace(view, root);
  let graph;
  try {
    graph = new Graph(await store.lineage());
  } catch (e) {
    if (live()) replace(root, h('h1', {}, 'Lineage'), errorBox(e));
    return;
  }
  if (!live()) return;
  if (state.focus !== (focus ?? null)) {
    state.expanded = new Set();
    state.focus = focus ?? null;
  }

  const title = focus ? h('h1', {}, 'Lineage of ', h('code', {}, focus)) : h('h1', {}, 'Lineage');
  const picker = nodePicker(graph);
  if (focus && !graph.nodes.has(focus)) {
    replace(root, title, picker,
      errorBox(new Error(`No dataset or model named ${focus} in the lineage graph.`)));
    return;
  }
  if (!focus && graph.size > WHOLE_GRAPH_LIMIT) {
    replace(root, title,
      h('p', {}, `The graph has ${graph.size} datasets and models, too many to draw at once. `
        + 'Choose one to see what it reads and what reads it.'),
      picker);
    picker.querySelector('input').focus();
    return;
  }
  if (graph.size === 0) {
    replace(root, title, picker, h('p', { class: 'muted' }, 'The project has no datasets or models.'));
    return;
  }

  const names = focus ? graph.closure(focus) : new Set(graph.nodes.keys());
  const scroller = h('div', { class: 'graph-scroll', tabindex: '-1' });
  const selection = h('div', { id: 'lineage-selection', class: 'selection', 'aria-live': 'polite' });
  const button = (id, label, text, onClick) =>
    h('button', { id, type: 'button', 'aria-label': label, title: label, on: { click: onClick } }, text);
  const actualSize = button('zoom-reset', 'Actual size', '100%', () => { state.zoom = 1; draw(); });
  const draw = () => {
    drawGraph(scroller, graph, names, focus);
    actualSize.textContent = `${Math.round(state.zoom * 100)}%`;
  };
  const zoomBy = (step) => {
    const i = ZOOMS.indexOf(state.zoom);
    state.zoom = ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, (i < 0 ? 4 : i) + step))];
    draw();
  };

  replace(root, title,
    h('div', { class: 'toolbar' },
      picker,
      focus ? h('a', { href: routes.lineage(), class: 'button-link' }, 'Whole graph') : null,
      button('expand-all', 'Show every node’s columns', 'Expand all', () => {
        state.expanded = new Set(names);
        draw();
      }),
      button('collapse-all', 'Hide all columns', 'Collapse all', () => {
        state.expanded.clear();
        draw();
      }),
      h('span', { class: 'zoom' },
        button('zoom-out', 'Zoom out', '−', () => zoomBy(-1)),
        actualSize,
        button('zoom-in', 'Zoom in', '+', () => zoomBy(1)))),
    selection,
    scroller,
    legend());

  // One set of listeners on the scroller serves every redraw (the SVG is replaced).
  // A click redraws the graph, so the browser's dblclick (which needs both clicks on one
  // element) never comes: a click waits briefly instead, and a second click on the same
  // node within that time opens its contract rather than toggling it.
  const nodeOf = (event) => event.target.closest?.('g.node');
  let pending = null;
  const settle = () => {
    if (!pending) return;
    clearTimeout(pending.timer);
    const { name } = pending;
    pending = null;
    toggle(name);
    showSelection(selection, graph, name, focus);
  };
  scroller.addEventListener('click', (event) => {
    // A click on a column row traces that column; anywhere else on a node toggles it.
    const column = event.target.closest?.('g.column');
    if (column) {
      lightColumn(scroller, column.dataset.table, column.dataset.column);
      return;
    }
    const name = nodeOf(event)?.dataset.name;
    if (!name) return;
    if (pending?.name === name) {
      clearTimeout(pending.timer);
      pending = null;
      location.hash = routes.dataset(name);
      return;
    }
    settle();
    pending = { name, timer: setTimeout(settle, DOUBLE_CLICK_MS) };
  });
  scroller.addEventListener('keydown', (event) => {
    const node = nodeOf(event);
    if (!node || (event.key !== 'Enter' && event.key !== ' ')) return;
    event.preventDefault();
    const name = node.dataset.name;
    toggle(name);
    showSelection(selection, graph, name, focus);
    scroller.querySelector(`g.node[data-name="${CSS.escape(name)}"]`)?.focus();
  });
  // Hovering a node lights the edges that touch it.
  scroller.addEventListener('mouseover', (event) => light(scroller, nodeOf(event)?.dataset.name));
  scroller.addEventListener('mouseleave', () => light(scroller, null));

  function toggle(name) {
    if (state.expanded.has(name)) state.expanded.delete(name);
    else state.expanded.add(name);
    draw();
  }

  draw();
  if (focus) {
    showSelection(selection, graph, focus, focus);
    centreOn(scroller, focus);
  }
}

/** A search box listing matching nodes as links to their lineage. */
function nodePicker(graph) {
  const input = h('input', {
    id: 'lineage-search', type: 'search', placeholder: 'Find a dataset or model',
    autocomplete: 'off', spellcheck: 'false',
  });
  const results = h('ul', { class: 'picker-results', id: 'lineage-results' });
  const show = () => {
    const { total, shown } = graph.search(input.value);
    replace(results, shown.map((n) => h('li', {},
      h('a', { href: routes.lineage(n.name), 'data-name': n.name }, n.name), ' ', kindBadge(n.kind))));
    if (total > shown.length) results.append(h('li', { class: 'muted' }, `…and ${total - shown.length} more`));
    results.hidden = input.value.trim() === '' && graph.size <= WHOLE_GRAPH_LIMIT;
  };
  input.addEventListener('input', show);
  // Keeps the focus in the box while a result is clicked, so the list (shown while the
  // picker has focus) stays until the click lands.
  results.addEventListener('mousedown', (event) => event.preventDefault());
  input.addEventListener('focus', show);
  show();
  return h('div', { class: 'picker' },
    h('label', { for: 'lineage-search', class: 'sr-only' }, 'Find a dataset or model'),
    input,
    results);
}

// Text widths come from a canvas with the stylesheet's fonts, so boxes fit their labels.
const measure = (() => {
  const context = document.createElement('canvas').getContext('2d');
  return (text, font) => {
    if (!context) return String(text).length * 7.5;
    context.font = font;
    return context.measureText(String(text)).width;
  };
})();
const LABEL_FONT = '600 13px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const MONO_FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';

function nodeSize(node, expanded) {
  let width = Math.max(150, measure(node.name, LABEL_FONT) + 24);
  if (!expanded) return { width: Math.min(width, 320), height: HEADER };
  for (const c of node.columns) {
    width = Math.max(width, measure(c?.name ?? '', MONO_FONT) + measure(c?.type ?? '', MONO_FONT) + 40);
  }
  return { width: Math.min(width, 420), height: HEADER + Math.max(1, node.columns.length) * ROW + 6 };
}

/** Draws (or redraws) the graph of `names` into `scroller`, keeping its scroll position. */
function drawGraph(scroller, graph, names, focus) {
  const nodes = [...names].map((name) => ({ id: name, ...nodeSize(graph.nodes.get(name), state.expanded.has(name)) }));
  const edges = graph.edges.filter((e) => names.has(e.from) && names.has(e.to));
  const placed = layout(nodes, edges);
  const width = Math.max(placed.width, 200);
  const height = Math.max(placed.height, 100);

  const svg = s('svg', {
    id: 'lineage-graph', role: 'group', 'aria-label': 'Lineage graph',
    viewBox: `0 0 ${width} ${height}`, width: width * state.zoom, height: height * state.zoom,
  },
  s('defs', {},
    arrow('arrow', 'arrow-head', 7),
    arrow('arrow-column', 'arrow-head column', 4.5)),
  s('g', { class: 'edges' }, placed.edges.map((e) => s('path', {
    class: 'edge', d: curve(e.points), 'data-from': e.from, 'data-to': e.to, 'marker-end': 'url(#arrow)',
  }, s('title', {}, `${e.from} → ${e.to}`)))),
  s('g', { class: 'column-edges' }, columnEdges(graph, placed.nodes)),
  s('g', { class: 'nodes' }, nodes.map((n) => drawNode(graph.nodes.get(n.id), placed.nodes.get(n.id), n.id === focus))));

  const { scrollLeft, scrollTop } = scroller;
  litName = null;
  replace(scroller, svg);
  scroller.scrollLeft = scrollLeft;
  scroller.scrollTop = scrollTop;
}

/** An arrowhead `size` stroke widths long (markers scale with the line they end). */
function arrow(id, cls, size) {
  return s('marker', {
    id, class: cls, viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: size, markerHeight: size, orient: 'auto-start-reverse',
  }, s('path', { d: 'M0,0 L10,5 L0,10 z' }));
}

function drawNode(node, box, focused) {
  const expanded = state.expanded.has(node.name);
  const classes = ['node', kindClass(node.kind), expanded && 'expanded', focused && 'focus'].filter(Boolean);
  const label = fit(node.name, box.width - 20, LABEL_FONT);
  const g = s('g', {
    class: classes.join(' '), 'data-name': node.name, transform: `translate(${box.x},${box.y})`,
    tabindex: 0, role: 'button', 'aria-expanded': String(expanded),
    'aria-label': `${node.name}, ${node.kind}: press Enter to ${expanded ? 'hide' : 'show'} its columns`,
  },
  s('title', {}, `${node.name} (${node.kind}) — click for columns, double-click for the contract`),
  s('rect', { class: 'box', width: box.width, height: box.height, rx: 6 }),
  s('text', { class: 'label', x: 10, y: 19 }, label),
  s('text', { class: 'kind', x: 10, y: 35 }, node.kind));
  if (!expanded) return g;
  append(g, [s('line', { class: 'divider', x1: 0, x2: box.width, y1: HEADER - 2, y2: HEADER - 2 })]);
  if (node.columns.length === 0) {
    append(g, [s('text', { class: 'kind', x: 10, y: HEADER + 14 }, 'no columns known')]);
  }
  node.columns.forEach((c, i) => {
    const tags = Array.isArray(c?.tags) && c.tags.length ? ` [${c.tags.join(', ')}]` : '';
    append(g, [s('g', {
      class: 'column', 'data-table': node.name, 'data-column': c?.name ?? '',
      transform: `translate(0,${HEADER + i * ROW})`,
    },
    s('title', {}, `${c?.name} ${c?.type ?? ''}${c?.nullable === false ? ' NOT NULL' : ''}${tags}`),
    s('rect', { class: 'column-row', width: box.width, height: ROW }),
    s('text', { class: 'column-name', x: 10, y: 14 }, fit(c?.name ?? '', box.width * 0.55, MONO_FONT)),
    s('text', { class: 'column-type', x: box.width - 10, y: 14, 'text-anchor': 'end' },
      fit(c?.type ?? '', box.width * 0.4, MONO_FONT)))]);
  });
  return g;
}

/** `text` cut with an ellipsis to fit `width` pixels. */
function fit(text, width, font) {
  if (measure(text, font) <= width) return text;
  let cut = text.length;
  while (cut > 1 && measure(`${text.slice(0, cut)}…`, font) > width) cut -= 1;
  return `${text.slice(0, cut)}…`;
}

/**
 * Column lineage between drawn nodes where at least one end shows its columns; an end
 * whose node is collapsed (or lacks the column) attaches to the node's side.
 */
function columnEdges(graph, boxes) {
  const anchor = (table, column, side) => {
    const box = boxes.get(table);
    const x = side === 'out' ? box.x + box.width : box.x;
    const i = column === null || !state.expanded.has(table)
      ? -1
      : graph.nodes.get(table).columns.findIndex((c) => c?.name === column);
    return { x, y: box.y + (i < 0 ? HEADER / 2 : HEADER + i * ROW + ROW / 2) };
  };
  const paths = [];
  for (const c of graph.columnEdges) {
    if (!boxes.has(c.from.table) || !boxes.has(c.to.table)) continue;
    if (!state.expanded.has(c.from.table) && !state.expanded.has(c.to.table)) continue;
    const from = `${c.from.table}.${c.from.column}`;
    const d = curve([anchor(c.from.table, c.from.column, 'out'), anchor(c.to.table, c.to.column, 'in')]);
    if (c.influence) {
      paths.push(s('path', {
        class: 'column-edge influence', d, 'data-from': from, 'data-to': c.to.table,
        'data-influence': c.influence.join(' '), 'marker-end': 'url(#arrow-column)',
      }, s('title', {}, `${from} shapes the rows of ${c.to.table}: ${c.influence.join(', ')}`)));
    } else {
      const to = `${c.to.table}.${c.to.column}`;
      paths.push(s('path', {
        class: `column-edge kind-${c.kind ?? 'unknown'}`, d, 'data-from': from, 'data-to': to,
        'marker-end': 'url(#arrow-column)',
      }, s('title', {}, `${from} → ${to}${c.kind ? ` (${c.kind})` : ''}`)));
    }
  }
  return paths;
}

/** Lights the edges touching node `name` (none for null). */
function light(scroller, name) {
  if (name === litName) return;
  litName = name ?? null;
  for (const lit of scroller.querySelectorAll('path.edge.lit')) lit.classList.remove('lit');
  if (!name) return;
  const escaped = CSS.escape(name);
  for (const edge of scroller.querySelectorAll(`path.edge[data-from="${escaped}"], path.edge[data-to="${escaped}"]`)) {
    edge.classList.add('lit');
  }
}

/** Marks one column's row and the column edges into and out of it, until the next redraw. */
function lightColumn(scroller, table, column) {
  for (const lit of scroller.querySelectorAll('.traced')) lit.classList.remove('traced');
  const id = CSS.escape(`${table}.${column}`);
  const selector = `path.column-edge[data-from="${id}"], path.column-edge[data-to="${id}"], `
    + `g.column[data-table="${CSS.escape(table)}"][data-column="${CSS.escape(column)}"]`;
  for (const element of scroller.querySelectorAll(selector)) element.classList.add('traced');
}

function showSelection(selection, graph, name, focus) {
  const node = graph.nodes.get(name);
  if (!node) return;
  replace(selection,
    h('strong', {}, name), ' ', kindBadge(node.kind), ' ',
    `${node.columns.length} columns · reads ${graph.upstream.get(name).length}`,
    ` · read by ${graph.downstream.get(name).length} · `,
    node.kind === 'unknown' ? null : h('a', { href: routes.dataset(name) }, 'Open contract'),
    node.kind === 'unknown' || name === focus ? null : ' · ',
    name === focus ? null : h('a', { href: routes.lineage(name) }, 'Focus lineage'));
}

function centreOn(scroller, name) {
  const node = scroller.querySelector(`g.node[data-name="${CSS.escape(name)}"]`);
  if (!node) return;
  const box = node.getBoundingClientRect();
  const view = scroller.getBoundingClientRect();
  scroller.scrollLeft += box.left + box.width / 2 - (view.left + view.width / 2);
  scroller.scrollTop += box.top + box.height / 2 - (view.top + view.height / 2);
}

function legend() {
  const item = (cls, text) => h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), text);
  return h('ul', { class: 'legend' },
    item('kind-dataset', 'dataset'),
    item('kind-model', 'model (table, append, merge, view)'),
    item('line copied', 'copied'),
    item('line transformed', 'transformed'),
    item('line aggregated', 'aggregated'),
    item('line influence', 'filters, joins, groups or orders'));
}
