// The webhooks panel of one mailbox (/m/{address}/webhooks): its subscriptions (URL, events,
// enabled switch, why one was switched off, whether it signs its requests), a form to add one,
// a test send, and each subscription's delivery log with redrive of failed deliveries.
//
// The inbox view owns the panel's element and shows it beside the message list. While open,
// the panel re-reads the subscriptions and the open delivery logs: soon after a live event of
// the mailbox, quickly while a delivery is still pending, and slowly otherwise.
import { api, ApiError, describeError } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { fullDate, plural } from "../lib/format.js";
import { busy, checkbox, field, FormError, input, sentence } from "../lib/forms.js";
import { icon } from "../lib/icons.js";
import { confirmDialog, toast } from "../lib/ui.js";
import { emptyState, timeAgo } from "../lib/widgets.js";

// dynip's event names, offered first; the dotted names behind the "advanced" disclosure.
const BASIC_EVENTS = [
  ["arrival", "New mail in the inbox"],
  ["deletion", "A message is deleted"],
  ["read", "A message is marked read or unread"],
];
const ADVANCED_EVENTS = [
  ["message.received", "Any new message, IMAP APPEND and COPY too"],
  ["message.read", "Read state changes (same as read)"],
  ["message.deleted", "A message is deleted (same as deletion)"],
  ["message.flags", "Other IMAP flags change"],
  ["message.moved", "A message moves to another folder"],
  ["mailbox.created", "The mailbox is created"],
  ["mailbox.claimed", "The mailbox is claimed with a password"],
  ["mailbox.released", "The claim is released"],
  ["mailbox.deleted", "The mailbox is deleted"],
];
const DEFAULT_EVENTS = new Set(["arrival"]);
const LOG_LIMIT = 50;
// How soon the panel re-reads what it shows: after a live event, while a delivery is still
// pending (a local endpoint answers in milliseconds), and otherwise.
const EVENT_REFRESH_MS = 700;
const PENDING_REFRESH_MS = 2000;
const IDLE_REFRESH_MS = 8000;
// After a live event the dispatcher may take a moment (retries, a slow endpoint): look
// often for this long.
const EVENT_BURST_MS = 8000;

// A test send is logged like any delivery but never sent again (the server refuses).
const TEST_EVENT = "test";
const redrivable = (d) => d.status === "failed" && d.event !== TEST_EVENT;

const STATUS_TEXT = { delivered: "Delivered", failed: "Failed", pending: "Pending" };
const STATUS_TONE = { delivered: "badge-ok", failed: "badge-danger", pending: "badge-accent" };

let panelIds = 0;

/** "HTTP 200 · 12 ms", "connection refused · 3 ms", "no answer yet". */
function resultText(statusCode, error, latencyMs = null) {
  const parts = [];
  if (Number.isInteger(statusCode)) parts.push(`HTTP ${statusCode}`);
  if (error) parts.push(String(error));
  if (Number.isFinite(latencyMs)) parts.push(`${latencyMs < 10 ? latencyMs.toFixed(1) : Math.round(latencyMs)} ms`);
  return parts.join(" · ");
}

/** A clock time for a moment that may lie ahead (relative wording only knows the past). */
function clockTime(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  return new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Newest first, for webhooks and deliveries alike (the id breaks ties: later is larger). */
function byNewest(a, b) {
  const x = Date.parse(a.created_at) || 0;
  const y = Date.parse(b.created_at) || 0;
  if (y !== x) return y - x;
  const p = String(a.id);
  const q = String(b.id);
  if (p.length !== q.length) return q.length - p.length;
  return p < q ? 1 : p > q ? -1 : 0;
}

export class WebhooksPanel {
  /**
   * @param {HTMLElement} root the element the panel fills (the inbox shows and hides it)
   * @param {{closeHref: () => string}} options `closeHref` is the inbox URL to go back to
   */
  constructor(root, { closeHref }) {
    this.root = root;
    this.closeHref = closeHref;
    this.address = null;
    this.isOpen = false;
    this.hooks = [];
    this.cards = new Map();
    this.loaded = false;
    this.controller = null;
    this.refreshTimer = null;
    this.refreshing = false;
    this.burstUntil = 0;
    // When the last write of this page finished: answers to reads begun before it are stale.
    this.changedAt = 0;
    panelIds += 1;
    this.ids = `webhooks-${panelIds}`;
  }

  // ----- the inbox calls these ------------------------------------------------------------

  /** Show the panel for `address` (re-reads everything when the address changed). */
  open(address) {
    const sameAddress = this.isOpen && address === this.address;
    this.isOpen = true;
    if (sameAddress) {
      this.closeLink.href = this.closeHref();
      return;
    }
    this.address = address;
    this.render();
    this.load();
  }

  close() {
    this.isOpen = false;
    this.stopTimers();
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  destroy() {
    this.close();
    replace(this.root);
  }

  /** Focus the heading, so keyboard users start in the panel. */
  focus() {
    if (this.heading) this.heading.focus({ preventScroll: true });
  }

  /** A live event of the mailbox: its deliveries are written now; look soon. */
  onMailboxEvent() {
    if (!this.isOpen || !this.loaded) return;
    this.burstUntil = Date.now() + EVENT_BURST_MS;
    this.scheduleRefresh(EVENT_REFRESH_MS);
  }

  /** A write of this page finished (reads begun before it may miss it). */
  noteWrite() {
    this.changedAt = performance.now();
  }

  /** The close link's target changed (another folder or search in the list). */
  updateCloseHref() {
    if (this.closeLink) this.closeLink.href = this.closeHref();
  }

  // ----- layout ---------------------------------------------------------------------------

  render() {
    this.cards.clear();
    this.hooks = [];
    this.loaded = false;
    this.heading = h("h2", { id: `${this.ids}-title`, class: "webhooks-title", tabindex: "-1", text: "Webhooks" });
    this.closeLink = h("a", {
      class: "btn btn-icon webhooks-close",
      href: this.closeHref(),
      title: "Back to the messages (Esc)",
      "aria-label": "Close webhooks",
      dataset: { link: "", action: "close-webhooks" },
    }, icon("close"));
    this.list = h("ul", { class: "webhook-list", "aria-labelledby": `${this.ids}-list-title` });
    this.count = h("span", { class: "webhook-count muted", "aria-live": "polite" });
    replace(this.root, h("div", { class: "webhooks" },
      h("header", { class: "webhooks-head" },
        h("div", { class: "webhooks-head-text" },
          this.heading,
          h("p", { class: "webhooks-sub" },
            "POST a JSON payload to your URL when something happens in ",
            h("strong", { class: "break", text: this.address }),
            ". Deliveries are retried for hours; each one's log is below.",
          ),
        ),
        this.closeLink,
      ),
      this.renderForm(),
      h("section", { class: "card webhooks-card", "aria-labelledby": `${this.ids}-list-title` },
        h("div", { class: "card-head" },
          h("h3", { id: `${this.ids}-list-title`, class: "card-title", text: "Subscriptions" }),
          this.count,
        ),
        this.list,
      ),
    ));
    replace(this.list, h("li", { class: "list-placeholder muted", text: "Loading…" }));
  }

  renderForm() {
    this.error = new FormError();
    this.url = input({
      type: "url",
      name: "url",
      inputmode: "url",
      placeholder: "https://example.com/hooks/mail",
      maxlength: 2048,
      required: true,
    });
    this.secret = input({ type: "password", name: "secret", autocomplete: "new-password", maxlength: 256 });
    const eventBox = ([name, text]) => {
      const { box, el } = checkbox(name, { name: "event", value: name, checked: DEFAULT_EVENTS.has(name) });
      el.classList.add("event-choice");
      el.title = text;
      el.append(h("span", { class: "event-choice-text", text }));
      return { name, box, el };
    };
    this.basicBoxes = BASIC_EVENTS.map(eventBox);
    this.advancedBoxes = ADVANCED_EVENTS.map(eventBox);
    this.advanced = h("details", { class: "advanced-events" },
      h("summary", { text: "Advanced events" }),
      h("p", { class: "field-hint", text: "The event names of the live API, for everything the aliases above do not cover." }),
      h("div", { class: "event-grid" }, this.advancedBoxes.map((b) => b.el)),
    );
    this.createButton = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "create-webhook" } },
      icon("plus"), h("span", { class: "btn-label", text: "Add webhook" }),
    );
    const form = h("form", { class: "webhook-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); this.create(); } },
      field("Endpoint URL", this.url, { hint: "http or https. Private and loopback addresses are refused unless the server allows them." }),
      h("fieldset", { class: "field webhook-events" },
        h("legend", { class: "field-label", text: "Events" }),
        h("div", { class: "event-grid" }, this.basicBoxes.map((b) => b.el)),
        this.advanced,
      ),
      field("Secret (optional)", this.secret, { hint: "Signs each request: X-Ephemail-Signature is HMAC-SHA256 over “timestamp.body”. Shown never again." }),
      this.error.el,
      h("div", { class: "form-actions" }, this.createButton),
    );
    this.url.addEventListener("input", () => this.error.clear());
    return h("section", { class: "card webhooks-card", "aria-labelledby": `${this.ids}-new-title` },
      h("h3", { id: `${this.ids}-new-title`, class: "card-title", text: "New webhook" }),
      form,
    );
  }

  // ----- loading --------------------------------------------------------------------------

  async load() {
    if (this.controller) this.controller.abort();
    const controller = new AbortController();
    this.controller = controller;
    const started = performance.now();
    let answer;
    try {
      answer = await api.webhooks.list(this.address, controller.signal);
    } catch (err) {
      if (controller.signal.aborted) return;
      this.showLoadError(err);
      return;
    }
    if (controller.signal.aborted || !this.isOpen) return;
    this.loaded = true;
    if (started < this.changedAt) {
      this.scheduleRefresh(0); // a webhook was added meanwhile: read again
      return;
    }
    this.adopt(answer);
    this.scheduleRefresh();
  }

  showLoadError(err) {
    this.loaded = false;
    const denied = err instanceof ApiError && (err.status === 401 || err.status === 403) && !err.missingRoute;
    replace(this.list, h("li", null, emptyState({
      iconName: denied ? "shield" : "alert",
      tone: "error",
      title: denied ? "Not allowed" : "Couldn't load the webhooks",
      text: denied
        ? "Only people who may read this mailbox can see and manage its webhooks (sign in, or unlock it with its password)."
        : describeError(err, "Webhooks"),
      actions: denied ? [] : [h("button", { type: "button", class: "btn btn-primary", text: "Try again", onclick: () => this.load() })],
    })));
  }

  /** The list answer: update cards in place (keeps focus, open logs and test results). */
  adopt(answer, { highlight = null } = {}) {
    const hooks = answer && Array.isArray(answer.webhooks) ? answer.webhooks.filter((w) => w && typeof w.id === "string").sort(byNewest) : [];
    this.hooks = hooks;
    this.count.textContent = hooks.length ? plural(hooks.length, "webhook") : "";
    if (!hooks.length) {
      for (const card of this.cards.values()) card.destroy();
      this.cards.clear();
      replace(this.list, h("li", { class: "webhook-empty" }, emptyState({
        iconName: "bolt",
        title: "No webhooks yet",
        text: "Add one above: your URL then hears about new mail the moment it arrives.",
      })));
      return;
    }
    const keep = new Set(hooks.map((w) => w.id));
    for (const [id, card] of this.cards) {
      if (!keep.has(id)) {
        card.destroy();
        this.cards.delete(id);
      }
    }
    for (const stale of this.list.querySelectorAll(".webhook-empty, .list-placeholder")) stale.remove();
    let anchor = this.list.firstElementChild;
    for (const hook of hooks) {
      let card = this.cards.get(hook.id);
      if (card) {
        card.update(hook);
      } else {
        card = new WebhookCard(this, hook);
        this.cards.set(hook.id, card);
        if (hook.id === highlight) card.el.classList.add("arrived");
      }
      if (card.el === anchor) anchor = anchor.nextElementSibling;
      else this.list.insertBefore(card.el, anchor);
    }
  }

  /** Re-read the subscriptions and every open delivery log. */
  async refresh() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    if (!this.isOpen || !this.loaded) return;
    if (this.refreshing || document.hidden) {
      this.scheduleRefresh();
      return;
    }
    this.refreshing = true;
    const address = this.address;
    const started = performance.now();
    try {
      const answer = await api.webhooks.list(address);
      if (this.isOpen && address === this.address && started >= this.changedAt) this.adopt(answer);
      await Promise.all([...this.cards.values()].filter((c) => c.logOpen).map((c) => c.loadLog({ quiet: true })));
    } catch {
      // the next round tries again; the buttons report their own errors
    } finally {
      this.refreshing = false;
      this.scheduleRefresh();
    }
  }

  scheduleRefresh(delay = null) {
    if (!this.isOpen) return;
    const pending = Date.now() < this.burstUntil || [...this.cards.values()].some((c) => c.logOpen && c.hasPending());
    const wait = delay != null ? delay : pending ? PENDING_REFRESH_MS : IDLE_REFRESH_MS;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), wait);
  }

  stopTimers() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  // ----- create ---------------------------------------------------------------------------

  chosenEvents() {
    return [...this.basicBoxes, ...this.advancedBoxes].filter((b) => b.box.checked).map((b) => b.name);
  }

  async create() {
    this.error.clear();
    delete this.error.el.dataset.code;
    const url = this.url.value.trim();
    const events = this.chosenEvents();
    if (!url) {
      this.error.show("Enter the URL to deliver to.");
      this.url.focus();
      return;
    }
    if (!events.length) {
      this.error.show("Choose at least one event.");
      this.basicBoxes[0].box.focus();
      return;
    }
    const body = { url, events };
    if (this.secret.value) body.secret = this.secret.value;
    let created;
    try {
      created = await busy(this.createButton, () => api.webhooks.create(this.address, body), "Adding…");
    } catch (err) {
      // invalid_webhook (422): the server's own reason (a refused address, a bad event).
      this.error.show(err, {
        invalid_webhook: (e) => sentence(e.message) || "The server refused this webhook.",
        403: "You may not add webhooks to this mailbox.",
        401: "Sign in (or unlock this mailbox) to add webhooks to it.",
      });
      this.error.el.dataset.code = err instanceof ApiError ? err.code : "";
      this.url.focus();
      return;
    }
    this.noteWrite();
    this.url.value = "";
    this.secret.value = "";
    for (const b of [...this.basicBoxes, ...this.advancedBoxes]) b.box.checked = DEFAULT_EVENTS.has(b.name);
    this.advanced.open = false;
    toast("Webhook added", { kind: "success" });
    const hooks = created && typeof created.id === "string" ? [created, ...this.hooks.filter((w) => w.id !== created.id)] : this.hooks;
    this.loaded = true;
    this.adopt({ webhooks: hooks }, { highlight: created && created.id });
    this.scheduleRefresh();
  }

  /** A card was deleted on the server: drop it. */
  forget(id) {
    const card = this.cards.get(id);
    if (card) card.destroy();
    this.cards.delete(id);
    this.adopt({ webhooks: this.hooks.filter((w) => w.id !== id) });
  }
}

// ----- one subscription -------------------------------------------------------------------

class WebhookCard {
  constructor(panel, hook) {
    this.panel = panel;
    this.hook = hook;
    this.logOpen = false;
    this.deliveries = [];
    this.logShape = null;
    this.logController = null;
    this.toggling = false;
    const base = `${panel.ids}-${hook.id}`;
    this.urlEl = h("span", { id: `${base}-url`, class: "webhook-url", dataset: { webhookUrl: "" } });
    this.badges = h("span", { class: "webhook-badges" });
    this.events = h("ul", { class: "event-chips", "aria-label": "Events" });
    this.notice = h("p", { class: "webhook-notice", hidden: true });
    this.meta = h("p", { class: "webhook-meta" });
    this.toggle = h("input", {
      type: "checkbox",
      role: "switch",
      class: "switch-input",
      "aria-describedby": this.urlEl.id,
      dataset: { action: "toggle-webhook" },
      onchange: () => this.setEnabled(this.toggle.checked),
    });
    const switchLabel = h("label", { class: "switch" },
      this.toggle,
      h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })),
      h("span", { class: "switch-text", text: "Enabled" }),
    );
    this.testButton = h("button", { type: "button", class: "btn btn-small", dataset: { action: "test-webhook" }, "aria-describedby": this.urlEl.id, onclick: () => this.sendTest() },
      icon("send", { size: 15 }), h("span", { class: "btn-label", text: "Send test" }),
    );
    this.logId = `${base}-log`;
    this.logButton = h("button", {
      type: "button",
      class: "btn btn-small",
      "aria-expanded": "false",
      "aria-controls": this.logId,
      "aria-describedby": this.urlEl.id,
      dataset: { action: "webhook-log" },
      onclick: () => this.toggleLog(),
    }, icon("clock", { size: 15 }), h("span", { class: "btn-label", text: "Delivery log" }));
    this.deleteButton = h("button", {
      type: "button",
      class: "btn btn-small btn-icon btn-danger-ghost",
      title: "Delete this webhook",
      "aria-label": "Delete webhook",
      "aria-describedby": this.urlEl.id,
      dataset: { action: "delete-webhook" },
      onclick: () => this.remove(),
    }, icon("trash", { size: 16 }));
    this.testResult = h("p", { class: "test-result", role: "status", hidden: true });
    this.logBody = h("div", { class: "delivery-body" });
    this.redriveAllButton = h("button", { type: "button", class: "btn btn-small", dataset: { action: "redrive-all" }, onclick: () => this.redriveAll() },
      icon("refresh", { size: 15 }), h("span", { class: "btn-label", text: "Redrive all failed" }),
    );
    this.log = h("section", { id: this.logId, class: "delivery-log", "aria-label": "Delivery log", hidden: true },
      h("div", { class: "delivery-head" },
        h("h4", { class: "delivery-title", text: "Deliveries" }),
        h("span", { class: "muted delivery-hint", text: `latest ${LOG_LIMIT}, newest first` }),
        h("span", { class: "toolbar-spacer" }),
        h("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { action: "refresh-log" }, onclick: () => this.loadLog() },
          icon("refresh", { size: 15 }), h("span", { class: "btn-label", text: "Refresh" }),
        ),
        this.redriveAllButton,
      ),
      this.logBody,
    );
    this.el = h("li", { class: "webhook", dataset: { webhookId: hook.id } },
      h("div", { class: "webhook-top" },
        h("div", { class: "webhook-main" },
          h("div", { class: "webhook-line" }, icon("bolt", { size: 16, cls: "webhook-icon" }), this.urlEl, this.badges),
          this.events,
          this.notice,
          this.meta,
        ),
        h("div", { class: "webhook-actions" }, switchLabel, this.testButton, this.logButton, this.deleteButton),
      ),
      this.testResult,
      this.log,
    );
    this.eventsShape = null;
    this.paint();
  }

  update(hook) {
    this.hook = hook;
    this.paint();
  }

  destroy() {
    if (this.logController) this.logController.abort();
    this.el.remove();
  }

  paint() {
    const w = this.hook;
    this.el.classList.toggle("off", !w.enabled);
    this.el.dataset.enabled = String(Boolean(w.enabled));
    this.urlEl.textContent = w.url;
    this.urlEl.title = w.url;
    this.toggle.checked = Boolean(w.enabled);
    replace(this.badges,
      w.has_secret ? h("span", { class: "badge badge-accent", title: "Requests carry X-Ephemail-Signature (HMAC-SHA256)", dataset: { hasSecret: "" } }, icon("key", { size: 12 }), " Signed") : null,
      w.enabled ? null : h("span", { class: "badge badge-muted", text: "Off" }),
    );
    const events = Array.isArray(w.events) ? w.events : [];
    const shape = events.join(" ");
    if (shape !== this.eventsShape) {
      this.eventsShape = shape;
      replace(this.events, events.map((name) => h("li", { class: "event-chip", dataset: { event: name }, text: name })));
    }
    const failures = Number.isFinite(w.consecutive_failures) ? w.consecutive_failures : 0;
    if (!w.enabled && w.disabled_reason) {
      replace(this.notice, icon("alert", { size: 15 }), h("span", { text: `Disabled: ${w.disabled_reason}` }));
      this.notice.className = "webhook-notice notice-danger";
      this.notice.dataset.disabledReason = w.disabled_reason;
      this.notice.hidden = false;
    } else if (w.enabled && failures > 0) {
      replace(this.notice, icon("alert", { size: 15 }), h("span", { text: `${plural(failures, "failed attempt")} in a row: it is switched off if this goes on.` }));
      this.notice.className = "webhook-notice notice-warn";
      delete this.notice.dataset.disabledReason;
      this.notice.hidden = false;
    } else {
      this.notice.hidden = true;
      delete this.notice.dataset.disabledReason;
      replace(this.notice);
    }
    replace(this.meta,
      w.created_at ? ["Added ", timeAgo(w.created_at)] : null,
      h("span", { class: "dot-sep", "aria-hidden": "true", text: " · " }),
      h("span", { class: "webhook-id", text: `id ${w.id}` }),
    );
  }

  // ----- actions --------------------------------------------------------------------------

  async setEnabled(enabled) {
    // One write at a time; the switch keeps the focus (a disabled control would drop it).
    if (this.toggling) {
      this.toggle.checked = !enabled;
      return;
    }
    this.toggling = true;
    this.toggle.setAttribute("aria-busy", "true");
    let updated;
    try {
      updated = await api.webhooks.update(this.hook.id, { enabled });
    } catch (err) {
      this.toggle.checked = Boolean(this.hook.enabled);
      toast(describeError(err, "Webhooks"), { kind: "error" });
      return;
    } finally {
      this.toggling = false;
      this.toggle.removeAttribute("aria-busy");
      this.panel.noteWrite();
    }
    if (updated && updated.id === this.hook.id) this.update(updated);
    else this.update({ ...this.hook, enabled, disabled_reason: enabled ? null : this.hook.disabled_reason });
    toast(enabled ? "Webhook enabled" : "Webhook disabled", { kind: "success", timeout: 2000 });
  }

  async sendTest() {
    this.showTest("Sending a test event…", "busy");
    let result;
    try {
      result = await busy(this.testButton, () => api.webhooks.test(this.hook.id), "Sending…");
    } catch (err) {
      this.showTest(`Couldn't send the test: ${describeError(err, "Testing webhooks")}`, "failed");
      return;
    }
    const detail = resultText(result.status_code, result.error, result.latency_ms);
    if (result.delivered) this.showTest(`Test delivered: ${detail || "OK"}`, "delivered");
    else this.showTest(`Test failed: ${detail || "no answer"}`, "failed");
    if (this.logOpen) this.loadLog({ quiet: true });
    this.panel.scheduleRefresh(EVENT_REFRESH_MS);
  }

  showTest(text, state) {
    const symbol = { delivered: "check", failed: "alert", busy: "clock" }[state] || "info";
    replace(this.testResult, icon(symbol, { size: 15 }), h("span", { text }));
    this.testResult.dataset.result = state;
    this.testResult.hidden = false;
  }

  async remove() {
    const ok = await confirmDialog({
      title: "Delete this webhook?",
      message: `${this.hook.url} stops receiving events of this mailbox, and its delivery log is deleted. This can't be undone.`,
      confirmLabel: "Delete webhook",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.webhooks.remove(this.hook.id);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404 && !err.missingRoute)) {
        toast(describeError(err, "Webhooks"), { kind: "error" });
        return;
      }
    }
    this.panel.noteWrite();
    toast("Webhook deleted", { kind: "success" });
    const list = this.el.parentElement;
    this.panel.forget(this.hook.id);
    // The focus was on the deleted card's button: give it to the panel's list heading.
    if (list && !list.contains(document.activeElement)) this.panel.focus();
  }

  // ----- the delivery log -----------------------------------------------------------------

  toggleLog() {
    this.logOpen = !this.logOpen;
    this.log.hidden = !this.logOpen;
    this.logButton.setAttribute("aria-expanded", String(this.logOpen));
    this.el.classList.toggle("log-open", this.logOpen);
    if (this.logOpen) {
      replace(this.logBody, h("p", { class: "list-placeholder muted", text: "Loading…" }));
      this.logShape = null;
      this.loadLog();
    } else if (this.logController) {
      this.logController.abort();
    }
  }

  hasPending() {
    return this.deliveries.some((d) => d.status === "pending");
  }

  async loadLog({ quiet = false } = {}) {
    if (!this.logOpen) return;
    if (this.logController) this.logController.abort();
    const controller = new AbortController();
    this.logController = controller;
    let answer;
    try {
      answer = await api.webhooks.deliveries(this.hook.id, { limit: LOG_LIMIT, signal: controller.signal });
    } catch (err) {
      if (controller.signal.aborted) return;
      if (!quiet) {
        this.logShape = null;
        replace(this.logBody, h("p", { class: "form-error" }, icon("alert", { size: 16 }), h("span", { text: `Couldn't load the deliveries: ${describeError(err, "The delivery log")}` })));
      }
      return;
    }
    if (controller.signal.aborted || !this.logOpen) return;
    const deliveries = answer && Array.isArray(answer.deliveries) ? [...answer.deliveries].sort(byNewest) : [];
    this.deliveries = deliveries;
    this.paintLog();
    this.panel.scheduleRefresh();
  }

  paintLog() {
    const failed = this.deliveries.filter(redrivable).length;
    this.redriveAllButton.disabled = failed === 0;
    this.redriveAllButton.title = failed ? `Send the ${plural(failed, "failed delivery", "failed deliveries")} shown again` : "No failed deliveries";
    // Unchanged data: leave the table (and a focused button, or an open attempt list) alone.
    const shape = JSON.stringify(this.deliveries.map((d) => [d.id, d.status, d.attempts, d.last_status_code, d.last_error, d.next_attempt_at]));
    if (shape === this.logShape) return;
    this.logShape = shape;
    if (!this.deliveries.length) {
      replace(this.logBody, h("p", { class: "delivery-empty muted", text: "No deliveries yet. Send a test, or wait for an event." }));
      return;
    }
    const active = document.activeElement;
    const focused = active instanceof HTMLElement && this.logBody.contains(active) ? active.dataset.action && active.closest("tr")?.dataset.deliveryId : null;
    const openDetails = new Set([...this.logBody.querySelectorAll("details[open]")].map((d) => d.closest("tr")?.dataset.deliveryId));
    replace(this.logBody, h("div", { class: "table-wrap" },
      h("table", { class: "table responsive-table delivery-table" },
        h("thead", null, h("tr", null,
          h("th", { scope: "col", text: "Time" }),
          h("th", { scope: "col", text: "Event" }),
          h("th", { scope: "col", text: "Status" }),
          h("th", { scope: "col", text: "Attempts" }),
          h("th", { scope: "col", text: "Last answer" }),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: "Actions" })),
        )),
        h("tbody", null, this.deliveries.map((d) => this.deliveryRow(d, openDetails.has(String(d.id))))),
      ),
    ));
    if (focused) {
      const again = this.logBody.querySelector(`tr[data-delivery-id="${CSS.escape(focused)}"] [data-action]`);
      if (again) again.focus();
    }
  }

  deliveryRow(d, detailsOpen) {
    const status = typeof d.status === "string" ? d.status : "pending";
    const log = Array.isArray(d.log) ? d.log : [];
    const last = log.length ? log[log.length - 1] : null;
    const answer = resultText(d.last_status_code, d.last_error, last ? last.latency_ms : null);
    const attempts = Number.isFinite(d.attempts) ? d.attempts : log.length;
    return h("tr", { class: ["delivery-row", `delivery-${status}`], dataset: { deliveryId: d.id, status } },
      h("td", { dataset: { label: "Time" } }, d.created_at ? timeAgo(d.created_at, { cls: "delivery-time" }) : "–"),
      h("td", { dataset: { label: "Event" } }, h("code", { class: "delivery-event", text: d.event || "?" })),
      h("td", { dataset: { label: "Status" } },
        h("span", { class: ["badge", STATUS_TONE[status] || "", "delivery-status"], text: STATUS_TEXT[status] || status }),
        status === "pending" && d.next_attempt_at ? h("span", { class: "cell-note", text: `next try ${clockTime(d.next_attempt_at)}` }) : null,
        status === "delivered" && d.delivered_at ? h("span", { class: "cell-note", title: fullDate(d.delivered_at), text: clockTime(d.delivered_at) }) : null,
      ),
      h("td", { dataset: { label: "Attempts" } },
        log.length
          ? h("details", { class: "attempts", open: detailsOpen },
            h("summary", { text: String(attempts) }),
            h("ol", { class: "attempt-list" }, log.map((a) => h("li", null,
              a.attempted_at ? h("time", { datetime: a.attempted_at, title: fullDate(a.attempted_at), text: clockTime(a.attempted_at) }) : null,
              h("span", { text: ` ${resultText(a.status_code, a.error, a.latency_ms) || "no answer"}` }),
            ))),
          )
          : h("span", { text: String(attempts) }),
      ),
      h("td", { class: "cell-main delivery-answer", dataset: { label: "Last answer" }, text: answer || "–" }),
      h("td", { class: "cell-actions" },
        redrivable(d)
          ? h("button", {
            type: "button",
            class: "btn btn-small",
            "aria-label": `Redrive the ${d.event || ""} delivery ${d.id}`.replace(/\s+/g, " "),
            dataset: { action: "redrive" },
            onclick: (e) => this.redrive(d, e.currentTarget),
          }, icon("refresh", { size: 15 }), h("span", { class: "btn-label", text: "Redrive" }))
          : null,
      ),
    );
  }

  async redrive(delivery, button) {
    try {
      await busy(button, () => api.webhooks.redrive(this.hook.id, delivery.id), "Redriving…");
    } catch (err) {
      toast(describeError(err, "Redrive"), { kind: "error" });
      return;
    }
    toast("Delivery queued again", { kind: "success", timeout: 2000 });
    await this.loadLog({ quiet: true });
    this.panel.scheduleRefresh(PENDING_REFRESH_MS);
  }

  async redriveAll() {
    let answer;
    try {
      answer = await busy(this.redriveAllButton, () => api.webhooks.redriveFailed(this.hook.id), "Redriving…");
    } catch (err) {
      toast(describeError(err, "Redrive"), { kind: "error" });
      return;
    }
    const count = answer && Number.isFinite(answer.redriven) ? answer.redriven : 0;
    toast(count ? `${plural(count, "delivery", "deliveries")} queued again` : "No failed deliveries to redrive", { kind: count ? "success" : "info" });
    await this.loadLog({ quiet: true });
    this.panel.scheduleRefresh(PENDING_REFRESH_MS);
  }
}
