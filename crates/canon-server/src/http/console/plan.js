// Query plans as trees. DataFusion prints a plan one node per line, each child indented
// two spaces more than its parent; parsing the indentation gives the tree back, drawn as
// nested boxes that fold open and shut.

import { h } from './dom.js';

/**
 * Parses plan text into a forest of { name, detail, children }. A line indented deeper
 * than the line before is that line's child; a line indented as deep as or shallower than
 * earlier ones closes them, as in an outline.
 */
export function parsePlan(text) {
  const roots = [];
  const stack = []; // [{ indent, node }] from the root down to the last line's node
  for (const line of String(text ?? '').split('\n')) {
    if (line.trim() === '') continue;
    const indent = line.length - line.trimStart().length;
    const node = { ...split(line.trim()), children: [] };
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    if (stack.length) stack[stack.length - 1].node.children.push(node);
    else roots.push(node);
    stack.push({ indent, node });
  }
  return roots;
}

/** "AggregateExec: mode=Final, gby=[]" → name "AggregateExec", detail "mode=Final, gby=[]". */
function split(line) {
  const colon = line.indexOf(':');
  const head = line.slice(0, colon);
  // Operator names are words ("HashJoinExec", "Inner Join"); a colon after anything else
  // (inside brackets, a string, an expression) is part of a node that has no detail.
  if (colon <= 0 || !/^[A-Za-z][A-Za-z0-9_ ]*$/.test(head)) return { name: line, detail: '' };
  return { name: head, detail: line.slice(colon + 1).trim() };
}

/** Details longer than this start folded to a few lines. */
const LONG = 160;

/** The forest as nested boxes; each node with children folds with its summary. */
export function planTree(roots) {
  const draw = (node) => {
    const long = node.detail.length > LONG;
    const detail = node.detail
      ? h('code', { class: long ? 'detail long' : 'detail', title: long ? 'Click to show all' : null }, node.detail)
      : null;
    if (node.children.length === 0) {
      return h('li', { class: 'plan-node leaf' },
        h('div', { class: 'plan-head' }, h('strong', {}, node.name), detail));
    }
    return h('li', { class: 'plan-node' },
      h('details', { open: true },
        h('summary', { class: 'plan-head' }, h('strong', {}, node.name), detail),
        h('ul', { class: 'plan-children' }, node.children.map(draw))));
  };
  const tree = h('ul', { id: 'plan-tree', class: 'plan-tree' }, roots.map(draw));
  // Long details unfold on click without folding the node they belong to.
  tree.addEventListener('click', (event) => {
    const detail = event.target.closest('code.detail.long');
    if (!detail) return;
    event.preventDefault();
    detail.classList.toggle('unfolded');
  });
  return tree;
}
