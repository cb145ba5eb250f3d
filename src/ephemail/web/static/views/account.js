// The signed-in account's pages: its own mailboxes (usage against the quota, create, delete,
// open) and its tokens (create and show the secret once, revoke).
import { api, ApiError, describeError, urls } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { busy, checkbox, explain, field, FormError, input, select } from "../lib/forms.js";
import { formatSize, fullDate, plural } from "../lib/format.js";
import { icon } from "../lib/icons.js";
import { AccountPage, loadFailed, pageHead, pageTabs, usageBar } from "../lib/page.js";
import { prefs } from "../lib/prefs.js";
import { session } from "../lib/session.js";
import { confirmDialog, copyButton, toast } from "../lib/ui.js";
import { emptyState, timeAgo } from "../lib/widgets.js";

const IMAP_PORT_HINT = 1143;

function accountTabs(current) {
  return pageTabs("Your account", [
    [urls.mailboxes(), "Your mailboxes", "inbox", "mailboxes"],
    [urls.tokens(), "Tokens", "key", "tokens"],
  ], current);
}

/** A date, or a word for its absence. */
function when(iso, none = "Never") {
  return iso ? timeAgo(iso) : h("span", { class: "muted", text: none });
}

// ----- your mailboxes --------------------------------------------------------------------

export class MailboxesView extends AccountPage {
  constructor(root, ctx) {
    super(root, ctx);
    this.signInText = "Sign in to keep mailboxes of your own: private, not deleted by the public retention.";
    this.mailboxes = [];
    this.domains = [];
    ctx.setTitle("Your mailboxes");
    this.begin();
  }

  render() {
    this.error = new FormError();
    this.local = input({ name: "local", placeholder: "name (empty: a random one)", "aria-label": "Address or name", autocapitalize: "none", inputmode: "email", maxlength: 320 });
    this.domainSelect = select([], { name: "domain", "aria-label": "Domain" });
    this.domainSelect.addEventListener("change", () => prefs.setDomain(this.domainSelect.value));
    this.local.addEventListener("input", () => {
      this.error.clear();
      this.paintDomain();
    });
    this.createButton = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "create-mailbox" } }, icon("plus"), h("span", { class: "btn-label", text: "Create" }));
    this.randomButton = h("button", { type: "button", class: "btn", dataset: { action: "random-mailbox" }, onclick: () => this.create({ random: true }) }, icon("sparkles"), h("span", { class: "btn-label", text: "Random" }));
    this.at = h("span", { class: "at", text: "@" });
    const form = h("form", { class: "create-row", novalidate: true, onsubmit: (e) => { e.preventDefault(); this.create(); } },
      h("div", { class: "address-field compact" }, icon("mail", { cls: "field-icon" }), this.local, this.at, this.domainSelect),
      h("div", { class: "create-buttons" }, this.createButton, this.randomButton),
    );
    this.usage = h("div", { class: "usage", "aria-live": "polite" });
    this.list = h("ul", { class: "owned-list", "aria-label": "Your mailboxes" });
    replace(this.root, h("div", { class: "page" },
      pageHead("Your mailboxes", "Private mailboxes of your account: only you (and admins) can read them, and the public retention does not delete them."),
      accountTabs("mailboxes"),
      h("section", { class: "card", "aria-labelledby": "new-mailbox-title" },
        h("h2", { id: "new-mailbox-title", class: "card-title", text: "New mailbox" }),
        form,
        this.error.el,
      ),
      h("section", { class: "card", "aria-labelledby": "owned-title" },
        h("div", { class: "card-head" },
          h("h2", { id: "owned-title", class: "card-title", text: "Mailboxes" }),
          this.usage,
        ),
        this.list,
      ),
    ));
    replace(this.list, h("li", { class: "list-placeholder muted", text: "Loading…" }));
    this.loadDomains();
    this.load();
  }

  async loadDomains() {
    this.domains = await api.domainList();
    // Your private domains first (`owned`), then shared ones (anyone's mailboxes); other
    // domains only take their owner's or an admin's (the server decides, and says so).
    const yours = this.domains.filter((d) => d.owned);
    const shared = this.domains.filter((d) => d.shared && !d.owned);
    const others = this.domains.filter((d) => !d.shared && !d.owned);
    const remembered = prefs.domain();
    const ordered = [...yours, ...shared, ...others];
    const preferred = ordered.find((d) => d.name === remembered) || ordered[0];
    const options = (list) => list.map((d) => h("option", { value: d.name, text: d.name }));
    const groups = [["Yours", yours], ["Shared", shared], ["Other domains", others]].filter(([, list]) => list.length);
    replace(this.domainSelect,
      groups.length > 1
        ? groups.map(([label, list]) => h("optgroup", { label }, options(list)))
        : options(this.domains),
    );
    if (preferred) this.domainSelect.value = preferred.name;
    this.paintDomain();
  }

  /** The domain picker shows while the name has no "@" of its own. */
  paintDomain() {
    const show = this.domains.length > 0 && !this.local.value.includes("@");
    this.domainSelect.hidden = !show;
    this.at.hidden = !show;
    this.randomButton.disabled = this.domains.length === 0;
  }

  async load() {
    let answer;
    try {
      answer = await api.ownedMailboxes();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        session.forget();
        return;
      }
      replace(this.list, h("li", null, loadFailed(err, () => this.load(), "Your mailboxes")));
      return;
    }
    this.mailboxes = Array.isArray(answer.mailboxes) ? answer.mailboxes : [];
    this.paintUsage(answer.usage || {});
    this.paintList();
  }

  paintUsage(usage) {
    const used = Number.isFinite(usage.used_bytes) ? usage.used_bytes : this.mailboxes.reduce((sum, m) => sum + (m.bytes || 0), 0);
    const quota = Number.isFinite(usage.quota_bytes) && usage.quota_bytes > 0 ? usage.quota_bytes : null;
    const count = Number.isFinite(usage.mailboxes) ? usage.mailboxes : this.mailboxes.length;
    replace(this.usage,
      h("span", { class: "usage-text", dataset: { usage: "" } },
        quota ? `${formatSize(used)} of ${formatSize(quota)} used` : `${formatSize(used)} used · no quota`,
        h("span", { class: "dot-sep", "aria-hidden": "true", text: " · " }),
        plural(count, "mailbox", "mailboxes"),
      ),
      quota ? usageBar(used, quota) : null,
    );
  }

  paintList(highlight = null) {
    if (!this.mailboxes.length) {
      replace(this.list, h("li", null, emptyState({
        iconName: "inbox",
        title: "No mailboxes yet",
        text: "Create one above: pick a name, or let ephemail make one up.",
      })));
      return;
    }
    replace(this.list, this.mailboxes.map((m) => {
      const row = h("li", { class: ["owned-row", m.address === highlight && "arrived"], dataset: { address: m.address } },
        h("a", { class: "owned-link", href: urls.inbox(m.address), dataset: { link: "" } },
          h("span", { class: "owned-icon" }, icon("inbox", { size: 18 })),
          h("span", { class: "owned-text" },
            h("span", { class: "owned-address", text: m.address }),
            h("span", { class: "owned-meta" },
              h("span", { dataset: { count: "" }, text: plural(Number(m.messages) || 0, "message") }),
              h("span", { class: "dot-sep", "aria-hidden": "true", text: "·" }),
              h("span", { text: formatSize(Number(m.bytes) || 0) }),
              m.created_at ? [h("span", { class: "dot-sep", "aria-hidden": "true", text: "·" }), h("span", null, "created ", timeAgo(m.created_at))] : null,
            ),
          ),
        ),
        h("span", { class: "owned-actions" },
          copyButton(m.address, `Copy ${m.address}`, { toastText: "Address copied", cls: "btn-small" }),
          h("button", {
            type: "button",
            class: "btn btn-icon btn-small btn-danger-ghost",
            title: `Delete ${m.address}`,
            "aria-label": `Delete ${m.address}`,
            dataset: { action: "delete-mailbox" },
            onclick: () => this.remove(m),
          }, icon("trash", { size: 16 })),
        ),
      );
      return row;
    }));
  }

  async create({ random = false } = {}) {
    this.error.clear();
    const typed = this.local.value.trim().toLowerCase();
    let body;
    if (random || !typed) {
      if (!this.domains.length) {
        this.error.show("This server offers no domain to make a random address on. Type a full address.");
        return;
      }
      body = { domain: this.domainSelect.value };
    } else if (typed.includes("@")) {
      body = { address: typed };
    } else if (this.domains.length) {
      body = { address: `${typed}@${this.domainSelect.value}` };
    } else {
      body = { address: typed };
    }
    const button = random ? this.randomButton : this.createButton;
    let created;
    try {
      created = await busy(button, () => api.createOwnedMailbox(body));
    } catch (err) {
      this.error.show(err, {
        mailbox_not_allowed: (e) => `You can't create that mailbox: ${e.message || "the domain isn't yours or shared, or the address is banned"}.`,
        conflict: "That address is taken already. Try another name.",
        409: "That address is taken already. Try another name.",
        invalid_address: (e) => describeError(e),
      });
      this.local.focus();
      return;
    }
    this.local.value = "";
    this.paintDomain();
    toast(`Created ${created.address}`, { kind: "success" });
    await this.load();
    this.paintList(created.address);
  }

  async remove(m) {
    const count = Number(m.messages) || 0;
    const ok = await confirmDialog({
      title: "Delete this mailbox?",
      message: `${m.address} and its ${plural(count, "message")} will be deleted. This can't be undone.`,
      confirmLabel: "Delete mailbox",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.deleteMailbox(m.address);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        toast(explain(err), { kind: "error" });
        return;
      }
    }
    prefs.forget(m.address);
    toast(`Deleted ${m.address}`, { kind: "success" });
    await this.load();
  }
}

// ----- tokens ----------------------------------------------------------------------------

const EXPIRY_CHOICES = [
  ["", "Never"],
  ["1", "1 day"],
  ["7", "7 days"],
  ["30", "30 days"],
  ["90", "90 days"],
  ["365", "1 year"],
];

export class TokensView extends AccountPage {
  constructor(root, ctx) {
    super(root, ctx);
    this.signInText = "Sign in to make API tokens for programs and IMAP app tokens for mail clients.";
    this.tokens = [];
    ctx.setTitle("Tokens");
    this.begin();
  }

  render() {
    this.error = new FormError();
    this.kind = "api";
    const kindChoice = (value, label, text) => {
      const radio = h("input", { type: "radio", name: "kind", value, class: "choice-input", checked: value === this.kind });
      radio.addEventListener("change", () => {
        this.kind = value;
        this.paintKind();
      });
      return h("label", { class: "choice", dataset: { kind: value } }, radio,
        h("span", { class: "choice-body" }, h("strong", { text: label }), h("span", { class: "choice-text", text })),
      );
    };
    this.name = input({ name: "name", placeholder: "e.g. CI script, Thunderbird", maxlength: 100, required: true });
    const scopeBoxes = [
      ["read", "Read", true],
      ["write", "Write", true],
      ...(session.isAdmin ? [["admin", "Admin", false]] : []),
    ].map(([value, label, on]) => {
      const { box, el } = checkbox(label, { value, checked: on, name: "scope" });
      return { value, box, el };
    });
    this.scopeBoxes = scopeBoxes;
    this.scopes = h("fieldset", { class: "field scopes" },
      h("legend", { class: "field-label", text: "Scopes" }),
      h("div", { class: "check-row" }, scopeBoxes.map((s) => s.el)),
      h("span", { class: "field-hint", text: "Read lists and reads mail; write also deletes and changes; admin uses the admin routes." }),
    );
    this.expiry = select(EXPIRY_CHOICES, { name: "expires", value: "90" });
    this.createButton = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "create-token" } }, icon("plus"), h("span", { class: "btn-label", text: "Create token" }));
    this.secretSlot = h("div", { class: "secret-slot" });
    const form = h("form", { class: "token-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); this.create(); } },
      h("div", { class: "choices", role: "radiogroup", "aria-label": "Kind of token" },
        kindChoice("api", "API token", "For programs calling the HTTP API (Authorization: Bearer)."),
        kindChoice("imap", "IMAP app token", "The password of a mail client signing in with your account email."),
      ),
      h("div", { class: "form-grid" },
        field("Name", this.name),
        field("Expires", this.expiry),
      ),
      this.scopes,
      this.error.el,
      h("div", { class: "form-actions" }, this.createButton),
    );
    this.list = h("div", { class: "table-wrap" });
    replace(this.root, h("div", { class: "page" },
      pageHead("Tokens", "Secrets for programs and mail clients. Each is shown once when it is made; the server keeps only a hash."),
      accountTabs("tokens"),
      this.secretSlot,
      h("section", { class: "card", "aria-labelledby": "new-token-title" },
        h("h2", { id: "new-token-title", class: "card-title", text: "New token" }),
        form,
      ),
      h("section", { class: "card", "aria-labelledby": "tokens-title" },
        h("h2", { id: "tokens-title", class: "card-title", text: "Your tokens" }),
        this.list,
      ),
    ));
    this.paintKind();
    this.load();
  }

  paintKind() {
    this.scopes.hidden = this.kind !== "api";
  }

  async load() {
    let answer;
    try {
      answer = await api.tokens();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        session.forget();
        return;
      }
      replace(this.list, loadFailed(err, () => this.load(), "Tokens"));
      return;
    }
    this.tokens = Array.isArray(answer.tokens) ? answer.tokens : [];
    this.paintList();
  }

  status(t) {
    if (t.revoked_at) return ["Revoked", "danger"];
    if (t.expires_at && Date.parse(t.expires_at) <= Date.now()) return ["Expired", "muted"];
    return ["Active", "ok"];
  }

  paintList() {
    if (!this.tokens.length) {
      replace(this.list, emptyState({ iconName: "key", title: "No tokens yet", text: "Create one above for a script or a mail client." }));
      return;
    }
    const rows = this.tokens.map((t) => {
      const [state, tone] = this.status(t);
      return h("tr", { class: ["token-row", t.revoked_at && "revoked"], dataset: { tokenId: t.id, prefix: t.prefix } },
        h("td", { class: "cell-main", dataset: { label: "Name" } }, h("strong", { class: "token-name", text: t.name || "(unnamed)" })),
        h("td", { dataset: { label: "Kind" } }, h("span", { class: ["badge", t.kind === "imap" ? "badge-accent" : "badge-muted"], text: t.kind === "imap" ? "IMAP" : "API" })),
        h("td", { dataset: { label: "Scopes" } }, t.kind === "imap" ? h("span", { class: "muted", text: "IMAP login" }) : (t.scopes || []).map((s) => h("span", { class: "badge badge-muted", text: s }))),
        h("td", { dataset: { label: "Prefix" } }, h("code", { class: "token-prefix", text: `${t.prefix}…` })),
        h("td", { dataset: { label: "Created" } }, when(t.created_at, "")),
        h("td", { dataset: { label: "Expires" } }, t.expires_at ? h("time", { datetime: t.expires_at, title: fullDate(t.expires_at), text: fullDate(t.expires_at) }) : h("span", { class: "muted", text: "Never" })),
        h("td", { dataset: { label: "Last used" } }, when(t.last_used_at)),
        h("td", { dataset: { label: "Status" } }, h("span", { class: ["badge", `badge-${tone}`], dataset: { status: state.toLowerCase() }, text: state })),
        h("td", { class: "cell-actions" }, t.revoked_at ? null : h("button", {
          type: "button",
          class: "btn btn-small btn-danger-ghost",
          dataset: { action: "revoke-token" },
          "aria-label": `Revoke ${t.name || t.prefix}`,
          onclick: () => this.revoke(t),
        }, icon("ban", { size: 15 }), h("span", { class: "btn-label", text: "Revoke" }))),
      );
    });
    replace(this.list, h("table", { class: "table responsive-table" },
      h("thead", null, h("tr", null, ["Name", "Kind", "Scopes", "Prefix", "Created", "Expires", "Last used", "Status", ""].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", null, rows),
    ));
  }

  async create() {
    this.error.clear();
    const name = this.name.value.trim();
    if (!name) {
      this.error.show("Give the token a name, so you know later what uses it.");
      this.name.focus();
      return;
    }
    const body = { kind: this.kind, name };
    if (this.kind === "api") {
      body.scopes = this.scopeBoxes.filter((s) => s.box.checked).map((s) => s.value);
      if (!body.scopes.length) {
        this.error.show("Pick at least one scope.");
        return;
      }
    }
    if (this.expiry.value) body.expires_in_days = Number(this.expiry.value);
    let created;
    try {
      created = await busy(this.createButton, () => api.createToken(body), "Creating…");
    } catch (err) {
      this.error.show(err);
      return;
    }
    this.name.value = "";
    this.showSecret(created);
    await this.load();
  }

  /** The secret, once: with a copy button, a warning, and for IMAP how to sign in. */
  showSecret(created) {
    const token = created.token || {};
    const secret = String(created.secret || "");
    const secretField = h("input", { class: "input secret-value", type: "text", readonly: true, "aria-label": "The new token", spellcheck: "false", dataset: { secret: "" } });
    secretField.value = secret;
    secretField.addEventListener("focus", () => secretField.select());
    const dismiss = () => {
      secretField.value = "";
      replace(this.secretSlot);
    };
    const imap = token.kind === "imap";
    const host = window.location.hostname;
    const panel = h("section", { class: "secret-box", role: "region", "aria-labelledby": "secret-title", dataset: { secretBox: token.kind || "api" } },
      h("div", { class: "secret-head" },
        h("span", { class: "secret-icon" }, icon("key", { size: 20 })),
        h("h2", { id: "secret-title", class: "card-title", text: `Your new ${imap ? "IMAP app token" : "API token"}: “${token.name || "token"}”` }),
      ),
      h("p", { class: "secret-warning", role: "alert" }, icon("alert", { size: 16 }), h("span", { text: "Copy it now: it will not be shown again. Anyone holding it acts as you until it expires or you revoke it." })),
      h("div", { class: "secret-row" },
        secretField,
        copyButton(secret, "Copy the token", { withLabel: "Copy", cls: "btn-primary", toastText: "Token copied" }),
      ),
      imap
        ? h("dl", { class: "imap-hint" },
          h("dt", { text: "Server" }), h("dd", null, h("code", { text: host }), " port ", h("code", { text: String(IMAP_PORT_HINT) }), h("span", { class: "muted", text: " (the usual one; your administrator may publish another)" })),
          h("dt", { text: "User name" }), h("dd", null, h("code", { text: session.account ? session.account.email : "your account email" })),
          h("dt", { text: "Password" }), h("dd", { text: "this token" }),
        )
        : h("p", { class: "secret-usage" }, "Send it as ", h("code", { text: "Authorization: Bearer eph_api_…" }), " with each request."),
      h("div", { class: "form-actions" }, h("button", { type: "button", class: "btn", dataset: { action: "dismiss-secret" }, text: "I saved it", onclick: dismiss })),
    );
    replace(this.secretSlot, panel);
    panel.scrollIntoView({ block: "nearest" });
    secretField.focus();
  }

  async revoke(t) {
    const ok = await confirmDialog({
      title: "Revoke this token?",
      message: `“${t.name || t.prefix}” stops working at once${t.kind === "imap" ? ": mail clients using it can no longer sign in" : ""}. This can't be undone.`,
      confirmLabel: "Revoke",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.revokeToken(t.id);
    } catch (err) {
      toast(explain(err), { kind: "error" });
      return;
    }
    toast("Token revoked", { kind: "success" });
    await this.load();
  }
}
