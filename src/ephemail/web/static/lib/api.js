// The HTTP API of docs/api.md, as the web app uses it. Errors become ApiError with the
// server's JSON error code and message, so views can explain what went wrong.
//
// A signed-in browser is authenticated by the HttpOnly session cookie; every write (POST, PUT,
// PATCH, DELETE) also carries the session's CSRF token in `X-CSRF-Token`, kept here in memory
// only (never in storage), as `GET /api/v1/auth/me` and the login answer hand it out.

const enc = encodeURIComponent;
// App URLs keep an address readable: "@" and "+" are allowed as-is in a path segment (RFC 3986).
const pathPart = (value) => encodeURIComponent(value).replace(/%40/g, "@").replace(/%2B/g, "+");
const SOURCE_DISPLAY_LIMIT = 2 * 1024 * 1024;

const CSRF_HEADER = "X-CSRF-Token";
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let csrfToken = null;

/** Remember (or forget, with null) the CSRF token of the current web session. */
export function setCsrfToken(token) {
  csrfToken = typeof token === "string" && token ? token : null;
}

export class ApiError extends Error {
  constructor(status, code, message, { retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    /** Seconds to wait before trying again (429 answers carry Retry-After). */
    this.retryAfter = retryAfter;
  }

  /** The server does not offer this route (an older or partial deployment). */
  get missingRoute() {
    return this.status === 405 || this.status === 501 || (this.status === 404 && this.code === "not_found" && /^not found$/i.test(this.message));
  }
}

/** A sentence for people, for any error thrown by this module. */
export function describeError(err, feature = "This") {
  if (!(err instanceof ApiError)) return err && err.message ? err.message : "Something went wrong.";
  if (err.missingRoute) return `${feature} isn't available on this server yet.`;
  if (err.status === 0) return "Can't reach the server. Check your connection.";
  if (err.status === 401) return "Sign in to do that.";
  if (err.status === 403) return err.code === "csrf_failed" ? "Your session changed. Reload the page and try again." : "You're not allowed to do that.";
  if (err.status === 429) return retryText(err);
  if (err.status >= 500) return "The server had a problem. Try again in a moment.";
  return err.message || `Request failed (${err.status}).`;
}

/** "Too many attempts. Try again in 12 s." from a 429's Retry-After. */
export function retryText(err) {
  const wait = err && Number.isFinite(err.retryAfter) ? Math.max(1, Math.ceil(err.retryAfter)) : null;
  return wait ? `Too many attempts. Try again in ${wait} s.` : "Too many attempts. Wait a moment and try again.";
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value != null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function send(method, path, { query, json, signal, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, signal, credentials: "same-origin" };
  if (WRITE_METHODS.has(method) && csrfToken) init.headers[CSRF_HEADER] = csrfToken;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  try {
    return await fetch(withQuery(path, query), init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "Can't reach the server.");
  }
}

function errorOf(response, body) {
  const error = body && typeof body === "object" && body.error ? body.error : {};
  const header = Number.parseInt(response.headers.get("retry-after") || "", 10);
  return new ApiError(
    response.status,
    typeof error.code === "string" ? error.code : `http_${response.status}`,
    typeof error.message === "string" ? error.message : response.statusText || "Request failed",
    { retryAfter: Number.isFinite(header) ? header : null },
  );
}

/** Ask the server for the session's CSRF token again (it was missing or stale). */
async function refreshCsrf() {
  try {
    const response = await fetch("/api/v1/auth/me", { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const body = response.ok ? await response.json() : null;
    setCsrfToken(body && body.csrf_token);
  } catch {
    // the retry below fails with the server's answer
  }
}

async function call(method, path, options = {}) {
  let response = await send(method, path, options);
  let body = await readBody(response);
  if (response.status === 403 && WRITE_METHODS.has(method) && body && body.error && body.error.code === "csrf_failed") {
    // The page outlived its token (another tab signed in again): fetch the current one, once.
    await refreshCsrf();
    response = await send(method, path, options);
    body = await readBody(response);
  }
  if (!response.ok) throw errorOf(response, body);
  return response.status === 204 ? null : body;
}

async function readBody(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json().catch(() => null) : null;
}

export const urls = {
  html: (id, remote = false) => `/api/v1/messages/${enc(id)}/html${remote ? "?remote=1" : ""}`,
  raw: (id) => `/api/v1/messages/${enc(id)}/raw`,
  attachment: (id, index) => `/api/v1/messages/${enc(id)}/attachments/${enc(index)}`,
  // The folder is a query parameter (absent for INBOX), so a reload keeps it.
  inbox: (address, q, folder) => withQuery(`/m/${pathPart(address)}`, { folder: folderParam(folder), q }),
  message: (address, id, q, folder) => withQuery(`/m/${pathPart(address)}/${pathPart(id)}`, { folder: folderParam(folder), q }),
  // The mailbox's webhooks panel; the list beside it keeps its folder and search.
  webhooks: (address, q, folder) => withQuery(`/m/${pathPart(address)}/webhooks`, { folder: folderParam(folder), q }),
  // Account pages; `next` brings a visitor back after signing in.
  signIn: (next) => withQuery("/signin", { next: next && next !== "/signin" ? next : null }),
  register: (next) => withQuery("/register", { next }),
  mailboxes: () => "/account/mailboxes",
  tokens: () => "/account/tokens",
  admin: (section = "users") => `/admin/${section}`,
};

/** The IMAP name of the inbox (RFC 3501 section 5.1: "INBOX" in any case means it). */
export const INBOX = "INBOX";

/** A folder name as given (URL, event), with every spelling of INBOX made "INBOX". */
export function normaliseFolder(name) {
  if (typeof name !== "string" || !name || name.toUpperCase() === INBOX) return INBOX;
  return name;
}

function folderParam(folder) {
  const name = normaliseFolder(folder);
  return name === INBOX ? null : name;
}

export const api = {
  /** The creatable domains as a list; empty when the server cannot say. */
  async domainList() {
    try {
      const answer = await call("GET", "/api/v1/domains");
      return (answer && Array.isArray(answer.domains) ? answer.domains : []).filter((d) => d && typeof d.name === "string");
    } catch {
      return [];
    }
  },
  createMailbox: (body) => call("POST", "/api/v1/mailboxes", { json: body }),
  listMessages: (address, { cursor, q, folder, limit = 50, signal } = {}) =>
    call("GET", `/api/v1/mailboxes/${enc(address)}/messages`, { query: { limit, cursor, q, folder: folderParam(folder) }, signal }),
  folders: (address, signal) => call("GET", `/api/v1/mailboxes/${enc(address)}/folders`, { signal }),
  deleteAll: (address, q) => call("DELETE", `/api/v1/mailboxes/${enc(address)}/messages`, { query: { q } }),
  message: (id, signal) => call("GET", `/api/v1/messages/${enc(id)}`, { signal }),
  setSeen: (id, seen) => call("PATCH", `/api/v1/messages/${enc(id)}`, { json: { seen } }),
  deleteMessage: (id) => call("DELETE", `/api/v1/messages/${enc(id)}`),
  extract: (id, signal) => call("GET", `/api/v1/messages/${enc(id)}/extract`, { signal }),

  // accounts and sessions
  me: () => call("GET", "/api/v1/auth/me"),
  login: (email, password) => call("POST", "/api/v1/auth/login", { json: { email, password } }),
  register: (email, password) => call("POST", "/api/v1/auth/register", { json: { email, password } }),
  logout: () => call("POST", "/api/v1/auth/logout"),
  tokens: () => call("GET", "/api/v1/tokens"),
  createToken: (body) => call("POST", "/api/v1/tokens", { json: body }),
  revokeToken: (id) => call("DELETE", `/api/v1/tokens/${enc(id)}`),
  ownedMailboxes: () => call("GET", "/api/v1/account/mailboxes"),
  createOwnedMailbox: (body) => call("POST", "/api/v1/account/mailboxes", { json: body }),
  deleteMailbox: (address) => call("DELETE", `/api/v1/mailboxes/${enc(address)}`),

  // first-claim passwords on public mailboxes
  mailboxStatus: (address, signal) => call("GET", `/api/v1/mailboxes/${enc(address)}/status`, { signal }),
  claim: (address, password) => call("POST", `/api/v1/mailboxes/${enc(address)}/claim`, { json: { password } }),
  release: (address, password) => call("POST", `/api/v1/mailboxes/${enc(address)}/release`, { json: { password } }),
  unlock: (address, password) => call("POST", `/api/v1/mailboxes/${enc(address)}/unlock`, { json: { password } }),

  // webhooks of one mailbox (docs/api.md: Webhooks)
  webhooks: {
    list: (address, signal) => call("GET", `/api/v1/mailboxes/${enc(address)}/webhooks`, { signal }),
    create: (address, body) => call("POST", `/api/v1/mailboxes/${enc(address)}/webhooks`, { json: body }),
    update: (id, body) => call("PATCH", `/api/v1/webhooks/${enc(id)}`, { json: body }),
    remove: (id) => call("DELETE", `/api/v1/webhooks/${enc(id)}`),
    test: (id) => call("POST", `/api/v1/webhooks/${enc(id)}/test`),
    deliveries: (id, { status, limit = 50, signal } = {}) =>
      call("GET", `/api/v1/webhooks/${enc(id)}/deliveries`, { query: { status, limit }, signal }),
    redrive: (id, deliveryId) => call("POST", `/api/v1/webhooks/${enc(id)}/deliveries/${enc(deliveryId)}/redrive`),
    redriveFailed: (id) => call("POST", `/api/v1/webhooks/${enc(id)}/redrive`),
  },

  // administration (admins only)
  admin: {
    users: () => call("GET", "/api/v1/admin/users"),
    addUser: (body) => call("POST", "/api/v1/admin/users", { json: body }),
    updateUser: (id, body) => call("PATCH", `/api/v1/admin/users/${enc(id)}`, { json: body }),
    deleteUser: (id) => call("DELETE", `/api/v1/admin/users/${enc(id)}`),
    domains: () => call("GET", "/api/v1/admin/domains"),
    addDomain: (body) => call("POST", "/api/v1/admin/domains", { json: body }),
    deleteDomain: (name) => call("DELETE", `/api/v1/admin/domains/${enc(name)}`),
    bans: () => call("GET", "/api/v1/admin/bans"),
    addBan: (body) => call("POST", "/api/v1/admin/bans", { json: body }),
    deleteBan: (id) => call("DELETE", `/api/v1/admin/bans/${enc(id)}`),
    stats: () => call("GET", "/api/v1/admin/stats"),
  },

  /** The raw message as text for the Source tab (the first 2 MiB of it). */
  async source(id, signal) {
    let response;
    try {
      response = await fetch(urls.raw(id), { signal, credentials: "same-origin" });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "Can't reach the server.");
    }
    if (!response.ok) throw new ApiError(response.status, `http_${response.status}`, response.statusText);
    const bytes = await response.arrayBuffer();
    const shown = bytes.byteLength > SOURCE_DISPLAY_LIMIT ? bytes.slice(0, SOURCE_DISPLAY_LIMIT) : bytes;
    return {
      text: new TextDecoder("utf-8").decode(shown),
      size: bytes.byteLength,
      truncated: bytes.byteLength > SOURCE_DISPLAY_LIMIT,
    };
  },
};

/**
 * Which optional routes this server offers, read from its OpenAPI document, so the UI can
 * explain a missing feature instead of failing (e.g. search: an unknown `q` parameter would
 * be ignored silently). Every feature counts as present when the document is unavailable.
 */
export async function loadCapabilities() {
  const all = {
    domains: true,
    create: true,
    search: true,
    markRead: true,
    deleteAll: true,
    html: true,
    attachments: true,
    extract: true,
    folders: true,
    accounts: true,
    claim: true,
    webhooks: true,
  };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 2500);
  try {
    const response = await fetch("/api/openapi.json", { signal: controller.signal });
    if (!response.ok) return all;
    const spec = await response.json();
    const operations = new Map();
    for (const [path, item] of Object.entries(spec.paths || {})) {
      const shape = path.replace(/\{[^}]*\}/g, "{}");
      for (const [method, op] of Object.entries(item || {})) operations.set(`${method.toUpperCase()} ${shape}`, op);
    }
    const has = (method, path) => operations.has(`${method} ${path}`);
    const listing = operations.get("GET /api/v1/mailboxes/{}/messages");
    return {
      domains: has("GET", "/api/v1/domains"),
      create: has("POST", "/api/v1/mailboxes"),
      search: Boolean(listing && (listing.parameters || []).some((p) => p && p.name === "q")),
      markRead: has("PATCH", "/api/v1/messages/{}"),
      deleteAll: has("DELETE", "/api/v1/mailboxes/{}/messages"),
      html: has("GET", "/api/v1/messages/{}/html"),
      attachments: has("GET", "/api/v1/messages/{}/attachments/{}"),
      extract: has("GET", "/api/v1/messages/{}/extract"),
      folders: has("GET", "/api/v1/mailboxes/{}/folders"),
      accounts: has("GET", "/api/v1/auth/me"),
      claim: has("POST", "/api/v1/mailboxes/{}/claim"),
      webhooks: has("GET", "/api/v1/mailboxes/{}/webhooks"),
    };
  } catch {
    return all;
  } finally {
    clearTimeout(timer);
  }
}
