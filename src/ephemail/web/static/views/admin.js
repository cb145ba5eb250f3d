// The admin pages (admins only; the API answers 401/403 to everyone else): users, domains,
// bans and counts, one tab each.
import { api, ApiError, urls } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { busy, checkbox, explain, field, FormError, input, select } from "../lib/forms.js";
import { formatSize, fullDate } from "../lib/format.js";
import { icon } from "../lib/icons.js";
import { AccountPage, loadFailed, notAllowed, pageHead, pageTabs, signInPrompt } from "../lib/page.js";
import { session } from "../lib/session.js";
import { confirmDialog, toast } from "../lib/ui.js";
import { emptyState, timeAgo } from "../lib/widgets.js";

export const ADMIN_SECTIONS = ["users", "domains", "bans", "stats"];

const ROLES = [["user", "User"], ["admin", "Admin"]];
const SUBSCRIPTIONS = [["inactive", "Inactive"], ["trialing", "Trialing"], ["active", "Active"], ["past_due", "Past due"]];
const BAN_SCOPES = [
  ["address", "Address (mailbox creation and delivery)"],
  ["sender", "Sender address"],
  ["sender_domain", "Sender domain"],
  ["recipient_domain", "Recipient domain"],
  ["ip", "IP address or network"],
  ["email", "Email (sender and address)"],
];
const BAN_MATCHES = [["exact", "Exact"], ["contains", "Contains"]];
const STATS = [
  ["accounts", "Accounts", "users"],
  ["mailboxes", "Mailboxes", "inbox"],
  ["messages", "Messages", "mail"],
  ["owned_mailboxes", "Owned mailboxes", "user"],
  ["claimed_mailboxes", "Claimed mailboxes", "lock"],
];

function deleteButton(label, onClick) {
  return h("button", { type: "button", class: "btn btn-icon btn-small btn-danger-ghost", title: label, "aria-label": label, dataset: { action: "delete" }, onclick: onClick }, icon("trash", { size: 16 }));
}

function yesNo(value) {
  return h("span", { class: ["badge", value ? "badge-ok" : "badge-muted"], text: value ? "Yes" : "No" });
}

function table(columns, rows, empty) {
  if (!rows.length) return empty;
  return h("table", { class: "table responsive-table" },
    h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", null, rows),
  );
}

/** A table cell that names its column (shown as a label when the table stacks on a phone). */
function cell(label, ...content) {
  return h("td", { dataset: { label } }, content);
}

export class AdminView extends AccountPage {
  constructor(root, ctx, { section = "users" } = {}) {
    super(root, ctx);
    this.section = ADMIN_SECTIONS.includes(section) ? section : "users";
    this.signInText = "The admin pages are for administrators: sign in with an admin account.";
    ctx.setTitle("Admin");
    this.begin();
  }

  render() {
    if (!session.isAdmin) {
      replace(this.root, h("div", { class: "page" }, notAllowed()));
      return;
    }
    this.tabsSlot = h("div");
    this.content = h("div", { class: "admin-content" });
    replace(this.root, h("div", { class: "page page-wide" },
      pageHead("Admin", "Everyone's accounts, the domains mail is accepted for, bans, and counts."),
      this.tabsSlot,
      this.content,
    ));
    this.open(this.section);
  }

  show({ section = "users" }) {
    const next = ADMIN_SECTIONS.includes(section) ? section : "users";
    if (next !== this.section && session.isAdmin && this.content) this.open(next);
    this.section = next;
  }

  open(section) {
    this.section = section;
    this.ctx.setTitle(`Admin · ${section[0].toUpperCase()}${section.slice(1)}`);
    replace(this.tabsSlot, pageTabs("Admin sections", [
      [urls.admin("users"), "Users", "users", "users"],
      [urls.admin("domains"), "Domains", "globe", "domains"],
      [urls.admin("bans"), "Bans", "ban", "bans"],
      [urls.admin("stats"), "Counts", "chart", "stats"],
    ], section));
    const builders = { users: () => this.users(), domains: () => this.domains(), bans: () => this.bans(), stats: () => this.stats() };
    builders[section]();
  }

  /** A failed admin read: 401 and 403 mean the session lost its rights. */
  failed(err, retry, feature) {
    if (err instanceof ApiError && err.status === 401) {
      replace(this.content, signInPrompt(this.signInText));
      session.refresh();
      return;
    }
    if (err instanceof ApiError && err.status === 403) {
      replace(this.content, notAllowed());
      return;
    }
    replace(this.content, loadFailed(err, retry, feature));
  }

  loading() {
    replace(this.content, h("p", { class: "page-loading muted", text: "Loading…" }));
  }

  // ----- users ---------------------------------------------------------------------------

  async users() {
    this.loading();
    let answer;
    try {
      answer = await api.admin.users();
    } catch (err) {
      this.failed(err, () => this.users(), "Users");
      return;
    }
    if (this.section !== "users") return;
    const users = Array.isArray(answer.users) ? answer.users : [];
    const error = new FormError();
    const email = input({ type: "email", name: "email", autocomplete: "off", required: true, placeholder: "person@example.com" });
    const password = input({ type: "password", name: "password", autocomplete: "new-password", required: true, minlength: 8 });
    const role = select(ROLES, { name: "role", value: "user" });
    const subscription = select(SUBSCRIPTIONS, { name: "subscription_status", value: "inactive" });
    const add = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "add-user" } }, icon("plus"), h("span", { class: "btn-label", text: "Add user" }));
    const form = h("form", { class: "admin-form", novalidate: true }, h("div", { class: "form-grid" },
      field("Email", email), field("Password", password, { hint: "At least 8 characters." }), field("Role", role), field("Subscription", subscription),
    ), error.el, h("div", { class: "form-actions" }, add));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.clear();
      if (!email.value.trim() || !password.value) {
        error.show("Enter an email and a password.");
        return;
      }
      try {
        await busy(add, () => api.admin.addUser({ email: email.value.trim(), password: password.value, role: role.value, subscription_status: subscription.value }));
      } catch (err) {
        error.show(err, { conflict: "An account with this email exists already.", 409: "An account with this email exists already." });
        return;
      }
      toast(`Added ${email.value.trim()}`, { kind: "success" });
      this.users();
    });
    const rows = users.map((u) => {
      const self = session.account && u.id === session.account.id;
      const roleSelect = select(ROLES, { value: u.role, "aria-label": `Role of ${u.email}`, class: "input select input-small", dataset: { field: "role" } });
      const subSelect = select(SUBSCRIPTIONS, { value: u.subscription_status, "aria-label": `Subscription of ${u.email}`, class: "input select input-small", dataset: { field: "subscription" } });
      roleSelect.addEventListener("change", () => this.updateUser(u, { role: roleSelect.value }, roleSelect, u.role));
      subSelect.addEventListener("change", () => this.updateUser(u, { subscription_status: subSelect.value }, subSelect, u.subscription_status));
      return h("tr", { dataset: { userId: u.id, email: u.email } },
        h("td", { class: "cell-main", dataset: { label: "Email" } }, h("strong", { text: u.email }), self ? h("span", { class: "badge badge-accent", text: "you" }) : null),
        cell("Role", roleSelect),
        cell("Subscription", subSelect, u.subscription_ends_at ? h("span", { class: "cell-note", text: `until ${fullDate(u.subscription_ends_at)}` }) : null),
        cell("Mailboxes", String(u.mailboxes ?? 0)),
        cell("Used", formatSize(Number(u.used_bytes) || 0), u.quota_bytes ? h("span", { class: "cell-note", text: ` of ${formatSize(u.quota_bytes)}` }) : null),
        cell("Created", u.created_at ? timeAgo(u.created_at) : ""),
        h("td", { class: "cell-actions" }, self ? null : deleteButton(`Delete ${u.email}`, () => this.deleteUser(u))),
      );
    });
    replace(this.content,
      h("section", { class: "card", "aria-labelledby": "users-title" },
        h("h2", { id: "users-title", class: "card-title", text: `Users (${users.length})` }),
        h("div", { class: "table-wrap" }, table(["Email", "Role", "Subscription", "Mailboxes", "Used", "Created", ""], rows,
          emptyState({ iconName: "users", title: "No accounts yet" }))),
      ),
      h("section", { class: "card", "aria-labelledby": "add-user-title" },
        h("h2", { id: "add-user-title", class: "card-title", text: "Add a user" }),
        form,
      ),
    );
  }

  async updateUser(user, change, control, before) {
    control.disabled = true;
    try {
      await api.admin.updateUser(user.id, change);
    } catch (err) {
      control.value = before;
      toast(explain(err), { kind: "error" });
      return;
    } finally {
      control.disabled = false;
    }
    Object.assign(user, change);
    toast(`Updated ${user.email}`, { kind: "success", timeout: 2000 });
    // Changing one's own role changes what this session may see.
    if (session.account && user.id === session.account.id) await session.refresh();
  }

  async deleteUser(user) {
    const ok = await confirmDialog({
      title: "Delete this account?",
      message: `${user.email}, its tokens, sessions and owned mailboxes with their mail will be deleted. This can't be undone.`,
      confirmLabel: "Delete account",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.admin.deleteUser(user.id);
    } catch (err) {
      toast(explain(err), { kind: "error" });
      return;
    }
    toast(`Deleted ${user.email}`, { kind: "success" });
    this.users();
  }

  // ----- domains -------------------------------------------------------------------------

  async domains() {
    this.loading();
    let answer;
    try {
      answer = await api.admin.domains();
    } catch (err) {
      this.failed(err, () => this.domains(), "Domains");
      return;
    }
    if (this.section !== "domains") return;
    const domains = Array.isArray(answer.domains) ? answer.domains : [];
    const error = new FormError();
    const name = input({ name: "name", placeholder: "mail.example.org", required: true, autocapitalize: "none" });
    const owner = input({ type: "email", name: "owner", placeholder: "account email (empty: nobody)" });
    const retention = input({ type: "number", name: "retention_hours", min: "0", step: "any", placeholder: "server default", inputmode: "decimal" });
    const shared = checkbox("Shared: every account may create mailboxes on it", { name: "shared", checked: true });
    const active = checkbox("Active: mail for it is accepted", { name: "active", checked: true });
    const add = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "add-domain" } }, icon("plus"), h("span", { class: "btn-label", text: "Add domain" }));
    const form = h("form", { class: "admin-form", novalidate: true },
      h("div", { class: "form-grid" }, field("Domain", name), field("Owner", owner), field("Retention (hours)", retention)),
      h("div", { class: "check-row" }, shared.el, active.el),
      error.el,
      h("div", { class: "form-actions" }, add),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.clear();
      const body = { name: name.value.trim().toLowerCase(), shared: shared.box.checked, active: active.box.checked };
      if (!body.name) {
        error.show("Enter a domain name.");
        return;
      }
      if (owner.value.trim()) body.owner = owner.value.trim();
      if (retention.value !== "") body.retention_hours = Number(retention.value);
      try {
        await busy(add, () => api.admin.addDomain(body));
      } catch (err) {
        error.show(err, { conflict: "That domain exists already.", 409: "That domain exists already." });
        return;
      }
      toast(`Added ${body.name}`, { kind: "success" });
      this.domains();
    });
    const rows = domains.map((d) => h("tr", { dataset: { domain: d.name } },
      h("td", { class: "cell-main", dataset: { label: "Domain" } }, h("strong", { text: d.name })),
      cell("Owner", d.owner ? String(d.owner) : h("span", { class: "muted", text: "nobody" })),
      cell("Shared", yesNo(d.shared)),
      cell("Active", yesNo(d.active)),
      cell("Retention", d.retention_hours != null ? `${d.retention_hours} h` : h("span", { class: "muted", text: "default" })),
      h("td", { class: "cell-actions" }, deleteButton(`Delete ${d.name}`, () => this.deleteDomain(d))),
    ));
    replace(this.content,
      h("section", { class: "card", "aria-labelledby": "domains-title" },
        h("h2", { id: "domains-title", class: "card-title", text: `Domains (${domains.length})` }),
        h("div", { class: "table-wrap" }, table(["Domain", "Owner", "Shared", "Active", "Retention", ""], rows,
          emptyState({ iconName: "globe", title: "No domains configured", text: "Mail is accepted as the server's settings say." }))),
      ),
      h("section", { class: "card", "aria-labelledby": "add-domain-title" },
        h("h2", { id: "add-domain-title", class: "card-title", text: "Add a domain" }),
        form,
      ),
    );
  }

  async deleteDomain(domain) {
    const ok = await confirmDialog({
      title: "Delete this domain?",
      message: `${domain.name} will no longer be configured here; mail for it follows the server's default rules.`,
      confirmLabel: "Delete domain",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.admin.deleteDomain(domain.name);
    } catch (err) {
      toast(explain(err), { kind: "error" });
      return;
    }
    toast(`Deleted ${domain.name}`, { kind: "success" });
    this.domains();
  }

  // ----- bans ----------------------------------------------------------------------------

  async bans() {
    this.loading();
    let answer;
    try {
      answer = await api.admin.bans();
    } catch (err) {
      this.failed(err, () => this.bans(), "Bans");
      return;
    }
    if (this.section !== "bans") return;
    const bans = Array.isArray(answer.bans) ? answer.bans : [];
    const error = new FormError();
    const scope = select(BAN_SCOPES, { name: "scope", value: "address" });
    const match = select(BAN_MATCHES, { name: "match", value: "exact" });
    const value = input({ name: "value", required: true, placeholder: "spam@example.com, example.net, 192.0.2.0/24" });
    const reason = input({ name: "reason", placeholder: "optional, for other admins" });
    const add = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "add-ban" } }, icon("plus"), h("span", { class: "btn-label", text: "Add ban" }));
    const form = h("form", { class: "admin-form", novalidate: true },
      h("div", { class: "form-grid" }, field("Scope", scope), field("Match", match), field("Value", value), field("Reason", reason)),
      error.el,
      h("div", { class: "form-actions" }, add),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.clear();
      if (!value.value.trim()) {
        error.show("Enter what to ban.");
        return;
      }
      const body = { scope: scope.value, match: match.value, value: value.value.trim() };
      if (reason.value.trim()) body.reason = reason.value.trim();
      try {
        await busy(add, () => api.admin.addBan(body));
      } catch (err) {
        error.show(err);
        return;
      }
      toast("Ban added", { kind: "success" });
      this.bans();
    });
    const rows = bans.map((b) => h("tr", { dataset: { banId: b.id } },
      cell("Scope", h("span", { class: "badge badge-muted", text: b.scope })),
      cell("Match", b.match || "exact"),
      h("td", { class: "cell-main", dataset: { label: "Value" } }, h("code", { text: b.value })),
      cell("Status", h("span", { class: ["badge", b.status === "inactive" ? "badge-muted" : "badge-danger"], text: b.status || "active" })),
      cell("Reason", b.reason || h("span", { class: "muted", text: "—" })),
      cell("Created", b.created_at ? timeAgo(b.created_at) : ""),
      h("td", { class: "cell-actions" }, deleteButton(`Delete the ban on ${b.value}`, () => this.deleteBan(b))),
    ));
    replace(this.content,
      h("section", { class: "card", "aria-labelledby": "bans-title" },
        h("h2", { id: "bans-title", class: "card-title", text: `Bans (${bans.length})` }),
        h("div", { class: "table-wrap" }, table(["Scope", "Match", "Value", "Status", "Reason", "Created", ""], rows,
          emptyState({ iconName: "ban", title: "No bans", text: "Nothing is blocked." }))),
      ),
      h("section", { class: "card", "aria-labelledby": "add-ban-title" },
        h("h2", { id: "add-ban-title", class: "card-title", text: "Add a ban" }),
        form,
      ),
    );
  }

  async deleteBan(ban) {
    const ok = await confirmDialog({
      title: "Delete this ban?",
      message: `The ${ban.scope} ban on ${ban.value} will be lifted.`,
      confirmLabel: "Delete ban",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.admin.deleteBan(ban.id);
    } catch (err) {
      toast(explain(err), { kind: "error" });
      return;
    }
    toast("Ban deleted", { kind: "success" });
    this.bans();
  }

  // ----- counts --------------------------------------------------------------------------

  async stats() {
    this.loading();
    let answer;
    try {
      answer = await api.admin.stats();
    } catch (err) {
      this.failed(err, () => this.stats(), "Counts");
      return;
    }
    if (this.section !== "stats") return;
    replace(this.content, h("section", { class: "card", "aria-labelledby": "stats-title" },
      h("div", { class: "card-head" },
        h("h2", { id: "stats-title", class: "card-title", text: "Counts" }),
        h("button", { type: "button", class: "btn btn-small", onclick: () => this.stats() }, icon("refresh", { size: 15 }), h("span", { class: "btn-label", text: "Refresh" })),
      ),
      h("ul", { class: "stat-grid" }, STATS.map(([key, label, iconName]) => h("li", { class: "stat", dataset: { stat: key } },
        h("span", { class: "stat-icon" }, icon(iconName, { size: 18 })),
        h("span", { class: "stat-value", text: Number.isFinite(answer[key]) ? answer[key].toLocaleString() : "—" }),
        h("span", { class: "stat-label", text: label }),
      ))),
    ));
  }
}
