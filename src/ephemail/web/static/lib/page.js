// The frame of the account and admin pages: a heading, section tabs, and what a visitor sees
// when the page needs a sign-in (401) or an admin (403).
import { describeError, urls } from "./api.js";
import { h, replace } from "./dom.js";
import { icon } from "./icons.js";
import { session } from "./session.js";
import { emptyState } from "./widgets.js";

/** Section tabs: [[href, label, iconName, name]]; the one named `current` is marked. */
export function pageTabs(label, items, current) {
  return h("nav", { class: "page-tabs", "aria-label": label },
    items.map(([href, text, iconName, name]) => h("a", {
      class: "page-tab",
      href,
      "aria-current": name === current ? "page" : null,
      dataset: { link: "", tab: name },
    }, icon(iconName, { size: 16 }), h("span", { text }))),
  );
}

export function pageHead(title, subtitle = null, actions = null) {
  return h("header", { class: "page-head" },
    h("div", { class: "page-head-text" },
      h("h1", { class: "page-title", text: title }),
      subtitle ? h("p", { class: "page-sub" }, subtitle) : null,
    ),
    actions ? h("div", { class: "page-actions" }, actions) : null,
  );
}

/** A page that needs an account, shown to a visitor (the API answered or would answer 401). */
export function signInPrompt(text = "Sign in to see this page.") {
  const here = `${window.location.pathname}${window.location.search}`;
  return emptyState({
    iconName: "user",
    title: "Sign in first",
    text,
    actions: [
      h("a", { class: "btn btn-primary", href: urls.signIn(here), dataset: { link: "", action: "sign-in-prompt" }, text: "Sign in" }),
      h("a", { class: "btn", href: urls.register(here), dataset: { link: "" }, text: "Create an account" }),
    ],
  });
}

/** 403: signed in, but this is not for this account. */
export function notAllowed(text = "This page is for administrators.") {
  return emptyState({
    iconName: "shield",
    tone: "error",
    title: "Not allowed",
    text,
    actions: [h("a", { class: "btn", href: urls.mailboxes(), dataset: { link: "" }, text: "Your mailboxes" })],
  });
}

/** A failed load, with a retry button. */
export function loadFailed(err, retry, feature = "This page") {
  return emptyState({
    iconName: "alert",
    tone: "error",
    title: "Couldn't load this",
    text: describeError(err, feature),
    actions: [h("button", { type: "button", class: "btn btn-primary", text: "Try again", onclick: retry })],
  });
}

/**
 * The base of a page that needs a signed-in account: waits for the session, shows the sign-in
 * prompt to visitors, and calls `render()` for accounts (again whenever the account changes).
 */
export class AccountPage {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.accountId = undefined;
    this.body = h("div", { class: "page-body" });
    this.unsubscribe = session.subscribe(() => this.onSession());
  }

  /** Call at the end of the subclass constructor. */
  begin() {
    this.onSession();
  }

  onSession() {
    if (!session.known) {
      replace(this.root, h("div", { class: "page" }, h("p", { class: "page-loading muted", text: "Loading…" })));
      return;
    }
    const id = session.account ? session.account.id : null;
    if (id === this.accountId && this.rendered) return;
    this.accountId = id;
    this.rendered = true;
    if (!session.signedIn) {
      this.signedOut();
      return;
    }
    this.render();
  }

  signedOut() {
    replace(this.root, h("div", { class: "page" }, signInPrompt(this.signInText || "Sign in to see this page.")));
  }

  render() {}

  show() {}

  handleKey() {
    return false;
  }

  unmount() {
    this.unsubscribe();
  }
}

/** "4.2 MB of 50 MB" with a bar; `quota` null means no limit. */
export function usageBar(used, quota) {
  const share = quota ? Math.min(1, used / Math.max(1, quota)) : 0;
  const level = share >= 0.95 ? "full" : share >= 0.8 ? "high" : "ok";
  return h("div", {
    class: ["usage-bar", `usage-${level}`],
    role: "meter",
    "aria-label": "Storage used",
    "aria-valuemin": "0",
    "aria-valuemax": String(quota || used || 1),
    "aria-valuenow": String(used),
    vars: { "--usage": `${(share * 100).toFixed(1)}%` },
  }, h("span", { class: "usage-fill" }));
}
