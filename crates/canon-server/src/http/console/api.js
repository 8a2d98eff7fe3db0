// The server's HTTP API, as the console uses it: every request carries the bearer token,
// every failure becomes an ApiError carrying the server's message and kind, and
// statements run in one kept session per browser tab so that `SET` then a query works.

const TOKEN_KEY = 'canon.token';
const SESSION_KEY = 'canon.session';

/** A request the server (or the network) refused. */
export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.kind = kind;
  }

  /** A refusal by the server's policy, which the console shows apart from errors. */
  get refused() {
    return this.status === 403 || this.kind === 'policy';
  }

  get unauthorized() {
    return this.status === 401;
  }
}

// sessionStorage, not localStorage: the token lives only as long as the tab and is never
// shared with other tabs or written to disk beyond the browser's session.
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(SESSION_KEY);
  },
};

let unauthorizedHandler = () => {};

/** What to do when the server no longer accepts the token (it returns to log-in). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/**
 * Sends one request. `bearer` overrides the stored token (the log-in form verifies a
 * token before keeping it, and a refusal there must not trigger the global handler).
 */
async function send(path, { method = 'GET', body, headers = {}, bearer } = {}) {
  const credential = bearer ?? token.get();
  const all = { Accept: 'application/json', ...headers };
  if (credential) all.Authorization = `Bearer ${credential}`;
  let response;
  try {
    response = await fetch(path, { method, body, headers: all, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', `Could not reach the server: ${e.message}`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (error.unauthorized && bearer === undefined) unauthorizedHandler(error);
    throw error;
  }
  return response;
}

/** The server's JSON error, or a stand-in when the body is not one (a proxy's page). */
async function errorOf(response) {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed.error === 'string') {
      return new ApiError(response.status, parsed.kind ?? 'error', parsed.error);
    }
  } catch {
    // Not JSON: fall through to the status line.
  }
  const detail = text.trim().slice(0, 500);
  return new ApiError(
    response.status,
    response.status === 401 ? 'unauthorized' : 'http',
    `${response.status} ${response.statusText}${detail ? `\n${detail}` : ''}`,
  );
}

/** Reads a JSON body; a body cut short (an error while rows streamed) says so. */
async function json(response) {
  let text;
  try {
    text = await response.text();
  } catch (e) {
    throw new ApiError(response.status, 'stream',
      `The answer broke off while it was being sent (${e.message}); ` +
      'the statement most likely failed after its first rows.');
  }
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(response.status, 'stream',
      'The answer is not complete JSON: the statement most likely failed while its rows ' +
      'were being sent.');
  }
}

async function getJson(path, options) {
  return json(await send(path, options));
}

/** Every dataset, model and system table; `bearer` verifies a token not yet kept. */
export async function datasets(bearer) {
  const body = await getJson('/api/datasets', { bearer });
  return Array.isArray(body?.datasets) ? body.datasets : [];
}

/** One dataset's page: contract, DDL, notes, files, history, state. */
export function dataset(name) {
  return getJson(`/api/datasets/${encodeURIComponent(name)}`);
}

export function lineage() {
  return getJson('/api/lineage');
}

export async function queries(limit = 200) {
  const body = await getJson(`/api/queries?limit=${encodeURIComponent(limit)}`);
  return Array.isArray(body?.queries) ? body.queries : [];
}

/**
 * Posts a statement in this tab's kept session: the first request asks for a new one,
 * later ones name the one the server gave. A session the server no longer knows (expired,
 * or made for another user) is dropped and the statement retried once in a new one.
 */
async function inSession(path, sql) {
  const attempt = async (session) => {
    const response = await send(path, {
      method: 'POST',
      body: sql,
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Canon-Session': session },
    });
    const named = response.headers.get('Canon-Session');
    if (named) sessionStorage.setItem(SESSION_KEY, named);
    return response;
  };
  const kept = sessionStorage.getItem(SESSION_KEY);
  if (!kept) return attempt('new');
  try {
    return await attempt(kept);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    sessionStorage.removeItem(SESSION_KEY);
    return attempt('new');
  }
}

/** Runs a statement; its rows as objects (an empty array for statements without rows). */
export async function sql(text) {
  const rows = await json(await inSession('/api/sql', text));
  return Array.isArray(rows) ? rows : [];
}

/** Explains a statement: canonical SQL, fingerprint, lineage and plans. */
export async function explain(text) {
  return json(await inSession('/api/explain', text));
}
