// What the views share: the catalog and the lineage graph, each fetched once and kept
// (the project does not change while the server runs), with a way to fetch again.

import * as api from './api.js';

let datasets = null; // Promise<Array> once asked for
let graph = null; // Promise<{nodes, edges, columns}> once asked for

/** Every dataset, model and system table. */
export function catalog({ fresh = false } = {}) {
  if (fresh || !datasets) {
    datasets = api.datasets();
    // A failed fetch is not kept, so the next view asks again.
    datasets.catch(() => { datasets = null; });
  }
  return datasets;
}

/** Seeds the catalog with the list the log-in already fetched. */
export function seedCatalog(list) {
  datasets = Promise.resolve(list);
}

/** The lineage graph, with every array present. */
export function lineage() {
  if (!graph) {
    graph = api.lineage().then((body) => ({
      nodes: Array.isArray(body?.nodes) ? body.nodes : [],
      edges: Array.isArray(body?.edges) ? body.edges : [],
      columns: Array.isArray(body?.columns) ? body.columns : [],
    }));
    graph.catch(() => { graph = null; });
  }
  return graph;
}

/** Forgets everything (on log-out, so no data outlives the token). */
export function reset() {
  datasets = null;
  graph = null;
}
