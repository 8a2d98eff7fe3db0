// The lineage graph as the view needs it: nodes by name, who reads whom, the closure of a
// node, and the column-level lineage with each table resolved to a node of the graph.

export class Graph {
  constructor({ nodes, edges, columns }) {
    this.nodes = new Map();
    for (const n of nodes) {
      if (n?.name) this.nodes.set(n.name, { ...n, columns: Array.isArray(n.columns) ? n.columns : [] });
    }
    // An edge may name something the graph lists no node for: it still gets one.
    const known = (name) => {
      if (!this.nodes.has(name)) this.nodes.set(name, { name, kind: 'unknown', columns: [] });
      return name;
    };
    this.edges = edges
      .filter((e) => e?.from && e?.to)
      .map((e) => ({ from: known(e.from), to: known(e.to) }));
    this.upstream = new Map([...this.nodes.keys()].map((n) => [n, []]));
    this.downstream = new Map([...this.nodes.keys()].map((n) => [n, []]));
    for (const e of this.edges) {
      this.downstream.get(e.from).push(e.to);
      this.upstream.get(e.to).push(e.from);
    }
    this.columnEdges = columns
      .map((c) => ({
        from: { table: this.resolve(c?.from?.table), column: c?.from?.column },
        to: { table: this.resolve(c?.to?.table), column: c?.to?.column ?? null },
        kind: c?.kind ?? null,
        influence: Array.isArray(c?.influence) ? c.influence : null,
      }))
      .filter((c) => c.from.table && c.to.table && c.from.column);
  }

  get size() {
    return this.nodes.size;
  }

  /**
   * The node a lineage table name refers to. Lineage names tables as briefly as the
   * session allows, so a qualified name (`catalog.schema.t`) may stand for node `t`.
   */
  resolve(table) {
    if (!table) return null;
    if (this.nodes.has(table)) return table;
    const parts = String(table).split('.');
    for (let i = 1; i < parts.length; i += 1) {
      const shorter = parts.slice(i).join('.');
      if (this.nodes.has(shorter)) return shorter;
    }
    return null;
  }

  /** A node with everything upstream and downstream of it. */
  closure(name) {
    const out = new Set([name]);
    for (const links of [this.upstream, this.downstream]) {
      const queue = [name];
      while (queue.length) {
        for (const next of links.get(queue.pop()) ?? []) {
          if (!out.has(next)) {
            out.add(next);
            queue.push(next);
          }
        }
      }
    }
    return out;
  }

  /** Names matching every word of `query`, models first, at most `limit`. */
  search(query, limit = 20) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    const matches = [...this.nodes.values()].filter((n) =>
      words.every((w) => n.name.toLowerCase().includes(w) || String(n.kind).includes(w)));
    const dataset = (n) => (n.kind === 'dataset' ? 1 : 0);
    matches.sort((a, b) => dataset(a) - dataset(b) || a.name.localeCompare(b.name));
    return { total: matches.length, shown: matches.slice(0, limit) };
  }
}
