// A small layered (Sugiyama-style) layout for directed graphs, drawn left to right:
//   1. break cycles (a lineage graph has none, but a layout must not loop if one appears);
//   2. rank each node by its longest path from a source, so every edge points rightwards;
//   3. split edges spanning several ranks with dummy nodes, so they get a lane of their own;
//   4. order each rank by barycenter sweeps, keeping the order with the fewest crossings;
//   5. place ranks in columns, and nodes within a column as near their neighbours as the
//      order and spacing allow (ordered least squares, solved by merging blocks).
// Pure functions, no DOM: the lineage view supplies sizes and draws the result.

const DEFAULTS = { rankGap: 90, nodeGap: 18, margin: 24, sweeps: 6, dummyHeight: 4 };

/**
 * Lays out `nodes` ([{id, width, height}]) and `edges` ([{from, to}], by id). Returns
 * { nodes: Map(id → {x, y, width, height, rank}), edges: [{from, to, points}], width,
 * height }, where each edge's points run from the right side of `from` to the left side
 * of `to` through the lanes of the ranks in between.
 */
export function layout(nodes, edges, options = {}) {
  const o = { ...DEFAULTS, ...options };
  const size = new Map(nodes.map((n) => [n.id, { width: n.width, height: n.height }]));
  const unique = new Map();
  for (const e of edges) {
    if (e.from !== e.to && size.has(e.from) && size.has(e.to)) unique.set(`${e.from}\u0000${e.to}`, e);
  }
  const graphEdges = [...unique.values()];
  const forward = acyclic(nodes.map((n) => n.id), graphEdges);
  const rank = ranks(nodes.map((n) => n.id), forward);

  // Vertices are real nodes and dummies; `down`/`up` link each to the next rank's.
  const vertex = new Map();
  for (const n of nodes) vertex.set(n.id, { id: n.id, rank: rank.get(n.id), ...size.get(n.id), dummy: false });
  const down = new Map([...vertex.keys()].map((id) => [id, []]));
  const up = new Map([...vertex.keys()].map((id) => [id, []]));
  const link = (a, b) => { down.get(a).push(b); up.get(b).push(a); };
  const chains = forward.map((e, i) => {
    const chain = [e.from];
    for (let r = rank.get(e.from) + 1; r < rank.get(e.to); r += 1) {
      const id = `\u0000dummy:${i}:${r}`;
      vertex.set(id, { id, rank: r, width: 0, height: o.dummyHeight, dummy: true });
      down.set(id, []);
      up.set(id, []);
      chain.push(id);
    }
    chain.push(e.to);
    for (let k = 1; k < chain.length; k += 1) link(chain[k - 1], chain[k]);
    return { edge: e, chain };
  });

  const layers = [];
  for (const v of vertex.values()) (layers[v.rank] ??= []).push(v.id);
  for (let r = 0; r < layers.length; r += 1) layers[r] ??= [];
  order(layers, down, up, o.sweeps);

  // Columns: each rank as wide as its widest node.
  const columnWidth = layers.map((layer) => Math.max(0, ...layer.map((id) => vertex.get(id).width)));
  const columnX = [];
  let x = o.margin;
  for (let r = 0; r < layers.length; r += 1) {
    columnX[r] = x;
    x += columnWidth[r] + o.rankGap;
  }

  const y = place(layers, vertex, down, up, o);
  const minY = Math.min(0, ...[...y.values()]);
  let height = 0;
  for (const [id, top] of y) {
    y.set(id, top - minY + o.margin);
    height = Math.max(height, y.get(id) + vertex.get(id).height);
  }

  const placed = new Map();
  for (const n of nodes) {
    const v = vertex.get(n.id);
    placed.set(n.id, { x: columnX[v.rank], y: y.get(n.id), width: v.width, height: v.height, rank: v.rank });
  }
  const centre = (id) => y.get(id) + vertex.get(id).height / 2;
  const routed = chains.map(({ edge, chain }) => {
    const first = placed.get(chain[0]);
    const points = [{ x: first.x + first.width, y: centre(chain[0]) }];
    for (const id of chain.slice(1, -1)) {
      const r = vertex.get(id).rank;
      // A dummy is a lane across its column: the edge runs straight through it.
      points.push({ x: columnX[r], y: centre(id) }, { x: columnX[r] + columnWidth[r], y: centre(id) });
    }
    const last = placed.get(chain[chain.length - 1]);
    points.push({ x: last.x, y: centre(chain[chain.length - 1]) });
    // An edge reversed to break a cycle is drawn back in its own direction.
    return edge.reversed
      ? { from: edge.to, to: edge.from, points: points.reverse() }
      : { from: edge.from, to: edge.to, points };
  });

  return { nodes: placed, edges: routed, width: Math.max(0, x - o.rankGap + o.margin), height: height + o.margin };
}

/** The edges with each back edge of a depth-first search reversed (flagged `reversed`). */
function acyclic(ids, edges) {
  const out = new Map(ids.map((id) => [id, []]));
  edges.forEach((e) => out.get(e.from).push(e));
  const state = new Map(); // undefined: unseen, 1: on the stack, 2: done
  const back = new Set();
  for (const root of ids) {
    if (state.has(root)) continue;
    const stack = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [id, i] = top;
      const next = out.get(id)[i];
      if (!next) {
        state.set(id, 2);
        stack.pop();
        continue;
      }
      top[1] += 1;
      const seen = state.get(next.to);
      if (seen === 1) back.add(next);
      else if (seen === undefined) {
        state.set(next.to, 1);
        stack.push([next.to, 0]);
      }
    }
  }
  return edges.map((e) => (back.has(e) ? { from: e.to, to: e.from, reversed: true } : { from: e.from, to: e.to }));
}

/** Each node's longest path from a source (edges must be acyclic). */
function ranks(ids, edges) {
  const rank = new Map(ids.map((id) => [id, 0]));
  const incoming = new Map(ids.map((id) => [id, 0]));
  const out = new Map(ids.map((id) => [id, []]));
  for (const e of edges) {
    incoming.set(e.to, incoming.get(e.to) + 1);
    out.get(e.from).push(e.to);
  }
  const ready = ids.filter((id) => incoming.get(id) === 0);
  while (ready.length) {
    const id = ready.pop();
    for (const next of out.get(id)) {
      rank.set(next, Math.max(rank.get(next), rank.get(id) + 1));
      incoming.set(next, incoming.get(next) - 1);
      if (incoming.get(next) === 0) ready.push(next);
    }
  }
  return rank;
}

/** Orders each layer in place by barycenter sweeps, keeping the best order seen. */
function order(layers, down, up, sweeps) {
  let best = layers.map((l) => [...l]);
  let fewest = crossings(layers, down);
  for (let i = 0; i < sweeps && fewest > 0; i += 1) {
    for (let r = 1; r < layers.length; r += 1) sortByBarycenter(layers[r], layers[r - 1], up);
    for (let r = layers.length - 2; r >= 0; r -= 1) sortByBarycenter(layers[r], layers[r + 1], down);
    const count = crossings(layers, down);
    if (count < fewest) {
      fewest = count;
      best = layers.map((l) => [...l]);
    }
  }
  best.forEach((l, r) => { layers[r] = l; });
}

/** Sorts `layer` by the mean position of each vertex's neighbours in `fixed`. */
function sortByBarycenter(layer, fixed, neighbours) {
  const position = new Map(fixed.map((id, i) => [id, i]));
  const key = new Map(layer.map((id, i) => {
    const ps = neighbours.get(id).map((n) => position.get(n)).filter((p) => p !== undefined);
    // A vertex without neighbours there keeps its place.
    return [id, ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : i];
  }));
  const index = new Map(layer.map((id, i) => [id, i]));
  layer.sort((a, b) => key.get(a) - key.get(b) || index.get(a) - index.get(b));
}

/** How many pairs of edges cross between adjacent layers. */
function crossings(layers, down) {
  let total = 0;
  for (let r = 0; r + 1 < layers.length; r += 1) {
    const position = new Map(layers[r + 1].map((id, i) => [id, i]));
    const ends = [];
    layers[r].forEach((id) => {
      const targets = down.get(id).map((n) => position.get(n)).sort((a, b) => a - b);
      ends.push(...targets);
    });
    // Edges sorted by source position (then target): each inversion is a crossing.
    for (let i = 0; i < ends.length; i += 1) {
      for (let j = i + 1; j < ends.length; j += 1) if (ends[j] < ends[i]) total += 1;
    }
  }
  return total;
}

/**
 * Vertical positions (tops): stacked first, then pulled towards the centres of their
 * neighbours in alternating passes, each layer keeping its order and spacing.
 */
function place(layers, vertex, down, up, o) {
  const y = new Map();
  for (const layer of layers) {
    let top = 0;
    for (const id of layer) {
      y.set(id, top);
      top += vertex.get(id).height + o.nodeGap;
    }
  }
  const centre = (id) => y.get(id) + vertex.get(id).height / 2;
  const align = (layer, neighbours) => {
    const wanted = layer.map((id) => {
      const ns = neighbours(id);
      if (!ns.length) return y.get(id);
      return ns.reduce((a, n) => a + centre(n), 0) / ns.length - vertex.get(id).height / 2;
    });
    const tops = spread(layer.map((id) => vertex.get(id).height), wanted, o.nodeGap);
    layer.forEach((id, i) => y.set(id, tops[i]));
  };
  for (let pass = 0; pass < 4; pass += 1) {
    for (let r = 1; r < layers.length; r += 1) align(layers[r], (id) => up.get(id));
    for (let r = layers.length - 2; r >= 0; r -= 1) align(layers[r], (id) => down.get(id));
  }
  for (const layer of layers) align(layer, (id) => [...up.get(id), ...down.get(id)]);
  return y;
}

/**
 * The tops closest (least squares) to `wanted` for boxes of `heights` kept in order with
 * at least `gap` between them: boxes that would overlap merge into a block placed at the
 * mean of what its boxes want.
 */
export function spread(heights, wanted, gap) {
  const blocks = [];
  heights.forEach((height, i) => {
    let block = { first: i, count: 1, sum: wanted[i], span: height };
    block.top = block.sum;
    while (blocks.length) {
      const last = blocks[blocks.length - 1];
      if (last.top + last.span + gap <= block.top) break;
      const shift = last.span + gap;
      last.sum += block.sum - block.count * shift;
      last.count += block.count;
      last.span += gap + block.span;
      last.top = last.sum / last.count;
      block = blocks.pop();
    }
    blocks.push(block);
  });
  const tops = [];
  for (const b of blocks) {
    let top = b.top;
    for (let i = b.first; i < b.first + b.count; i += 1) {
      tops[i] = top;
      top += heights[i] + gap;
    }
  }
  return tops;
}

/**
 * An SVG path through `points`: straight where a segment is level and runs rightwards (a
 * lane), else a cubic Bézier leaving and arriving horizontally.
 */
export function curve(points) {
  const f = (n) => Math.round(n * 10) / 10;
  let d = `M${f(points[0].x)},${f(points[0].y)}`;
  for (let i = 1; i < points.length; i += 1) {
    const a = points[i - 1];
    const b = points[i];
    if (a.y === b.y && b.x >= a.x) {
      d += ` L${f(b.x)},${f(b.y)}`;
      continue;
    }
    const bend = Math.max(Math.abs(b.x - a.x) / 2, 30);
    const dir = b.x >= a.x ? 1 : -1;
    d += ` C${f(a.x + bend * dir)},${f(a.y)} ${f(b.x - bend * dir)},${f(b.y)} ${f(b.x)},${f(b.y)}`;
  }
  return d;
}
