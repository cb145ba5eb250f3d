// Who is signed in: the account behind the session cookie, as `GET /api/v1/auth/me` tells.
//
// The cookie itself is HttpOnly (scripts never see it); this module keeps the account and hands
// the CSRF token to the API module, and tells the top bar and the views when either changes.
import { api, ApiError, setCsrfToken } from "./api.js";

const listeners = new Set();

function publish() {
  for (const listener of listeners) listener(session);
}

export const session = {
  /** The signed-in account (AccountOut), or null when anonymous. */
  account: null,
  /** False until the first answer of `me` (or its failure) came back. */
  known: false,
  /** False when this server has no accounts at all (an older deployment). */
  supported: true,

  get signedIn() {
    return this.account !== null;
  },

  get isAdmin() {
    return Boolean(this.account && this.account.role === "admin");
  },

  /** Re-read who is signed in; anonymous on 401, unchanged when the server can't be reached. */
  async refresh() {
    try {
      this.adopt(await api.me());
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        this.forget();
      } else if (err instanceof ApiError && err.missingRoute) {
        this.supported = false;
        this.forget();
      } else {
        this.known = true;
        publish();
      }
    }
    return this.account;
  },

  /** Take the answer of me, login or register ({account, csrf_token}). */
  adopt(answer) {
    const account = answer && typeof answer === "object" && answer.account && typeof answer.account.email === "string" ? answer.account : null;
    this.account = account;
    this.known = true;
    setCsrfToken(account ? answer.csrf_token : null);
    publish();
  },

  /** Forget the account (signed out here, or the session ended on the server). */
  forget() {
    this.account = null;
    this.known = true;
    setCsrfToken(null);
    publish();
  },

  async signIn(email, password) {
    this.adopt(await api.login(email, password));
    return this.account;
  },

  async register(email, password) {
    this.adopt(await api.register(email, password));
    return this.account;
  },

  async signOut() {
    try {
      await api.logout();
    } catch (err) {
      // A session that already ended is signed out all the same.
      if (!(err instanceof ApiError && err.status === 401)) throw err;
    }
    this.forget();
  },

  /** Call `listener(session)` on every change; returns the unsubscribe function. */
  subscribe(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};
