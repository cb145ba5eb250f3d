// The inbox of one address: the message list of one folder (INBOX unless the URL names
// another; live, searchable, paginated) beside the reader, with a folder switcher when an
// IMAP client has made more folders. A public mailbox can be claimed with a password here; a
// claimed one asks for its password (the unlock cookie then opens reads and live updates).
// The Webhooks button opens the mailbox's webhooks panel in place of the reader.
import { api, ApiError, describeError, INBOX, normaliseFolder, retryText, urls } from "../lib/api.js";
import { h, prefersReducedMotion, replace } from "../lib/dom.js";
import { FolderSwitcher, folderIconName, folderLabel } from "../lib/folders.js";
import { formatSize, parseMailbox, plural, senderLabel } from "../lib/format.js";
import { busy, field, FormError, passwordDialog } from "../lib/forms.js";
import { icon, iconButton } from "../lib/icons.js";
import { LiveFeed } from "../lib/live.js";
import { signInPrompt } from "../lib/page.js";
import { prefs } from "../lib/prefs.js";
import { session } from "../lib/session.js";
import { confirmDialog, copyButton, copyText, toast } from "../lib/ui.js";
import { avatar, emptyState, listSkeleton, timeAgo } from "../lib/widgets.js";
import { ReaderView } from "./reader.js";
import { WebhooksPanel } from "./webhooks.js";

const PAGE_SIZE = 50;
const POLL_INTERVAL_MS = 8000;
// Folder counts are re-read this long after the last event (a burst costs one request).
const FOLDER_REFRESH_DELAY_MS = 300;
const RESYNC_DELAY_MS = 250;
// The events that change some folder's total or unread count (message.flags does not).
const COUNTED_EVENTS = new Set(["message.received", "message.deleted", "message.read", "message.moved"]);
const SEARCH_EXAMPLES = ["from:", "subject:", "has:attachment", "is:unread", '"exact phrase"', "-word"];
// The account password policy applies to mailbox passwords too.
const MIN_MAILBOX_PASSWORD = 8;

const byNewest = (a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export class InboxView {
  /**
   * @param {HTMLElement} root where the view lives
   * @param {object} ctx the app context
   * @param {string} address as typed in the URL (normalised by the server on first load)
   * @param {{q?: string, messageId?: string|null, folder?: string, panel?: string|null}} target
   *   the rest of the URL (`panel` "webhooks": the webhooks panel is open)
   */
  constructor(root, ctx, address, { q = "", messageId = null, folder = INBOX, panel = null } = {}) {
    this.root = root;
    this.ctx = ctx;
    this.address = address;
    this.q = q;
    this.folder = normaliseFolder(folder);
    this.folders = [];
    this.foldersLoaded = false;
    this.folderTimer = null;
    this.folderController = null;
    this.resyncTimer = null;
    this.messages = [];
    this.byId = new Map();
    this.rows = new Map();
    this.nextCursor = null;
    this.total = 0;
    this.unread = 0;
    this.cursorId = null;
    this.openId = null;
    this.loaded = false;
    this.loadError = null;
    this.loadingMore = false;
    this.listController = null;
    this.pendingEvents = [];
    this.seenWrites = new Map();
    this.resyncWanted = false;
    this.pollTimer = null;
    this.live = null;
    // What the status route says: {kind: "public"|"claimed"|"owned", claimed, exists}.
    this.access = null;
    this.locked = false;
    this.claimSlot = h("span", { class: "claim-slot" });
    this.build();
    this.reader = new ReaderView(this.readerPane, ctx, {
      setSeen: (id, seen, opts) => this.setSeen(id, seen, opts),
      deleteMessage: (id) => this.deleteMessage(id),
      back: () => this.closeMessage(),
      openMessage: (id) => this.openMessage(id),
      position: (id) => this.position(id),
    });
    this.webhooks = new WebhooksPanel(this.webhooksPane, {
      closeHref: () => urls.inbox(this.address, this.q, this.folder),
    });
    this.panel = null;
    this.setOpen(messageId);
    this.setPanel(panel);
    this.load();
  }

  // ----- layout -------------------------------------------------------------------------

  build() {
    this.searchInput = h("input", {
      type: "search",
      class: "search-input",
      name: "q",
      placeholder: this.ctx.caps.search ? "Search mail" : "Search isn't available on this server",
      "aria-label": "Search mail",
      autocomplete: "off",
      spellcheck: "false",
      enterkeyhint: "search",
      disabled: !this.ctx.caps.search,
    });
    this.searchInput.value = this.q;
    this.searchInput.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        if (this.searchInput.value) {
          this.searchInput.value = "";
          if (this.q) this.search("");
        }
        this.searchInput.blur();
      }
    });
    this.searchError = h("p", { class: "search-error", role: "alert", hidden: true });
    const form = h("form", {
      class: "search",
      role: "search",
      onsubmit: (e) => {
        e.preventDefault();
        this.searchInput.blur();
        this.search(this.searchInput.value.trim());
      },
    },
      icon("search", { size: 16, cls: "search-icon" }),
      this.searchInput,
      h("kbd", { class: "search-kbd", text: "/" }),
    );
    const hint = h("div", { class: "search-hint" },
      h("span", { class: "muted", text: "Try" }),
      SEARCH_EXAMPLES.map((example) => h("button", {
        type: "button",
        class: "hint-chip",
        text: example,
        // mousedown keeps the focus in the search field
        onmousedown: (e) => {
          e.preventDefault();
          const value = this.searchInput.value;
          this.searchInput.value = `${value}${value && !value.endsWith(" ") ? " " : ""}${example}`;
          this.searchInput.focus();
        },
      })),
    );
    this.refreshButton = iconButton("refresh", "Refresh", { iconOnly: true, onClick: () => this.reload({ quiet: true, announce: true }) });
    this.deleteAllButton = iconButton("trash", "Delete all", { iconOnly: true, cls: "btn-danger-ghost", dataset: { action: "delete-all" }, onClick: () => this.deleteAll() });
    this.webhooksLink = h("a", {
      class: "btn btn-icon webhooks-link",
      href: urls.webhooks(this.address, this.q, this.folder),
      title: "Webhooks of this mailbox",
      "aria-label": "Webhooks",
      hidden: !this.ctx.caps.webhooks,
      dataset: { link: "", action: "webhooks" },
    }, icon("bolt"));
    this.folderSwitch = new FolderSwitcher({ hrefFor: (name) => urls.inbox(this.address, "", name) });
    this.folderSwitch.setCurrent(this.folder);
    this.meta = h("div", { class: "list-meta", "aria-live": "polite" });
    this.list = h("ul", { class: "message-list", "aria-label": "Messages" });
    this.footer = h("div", { class: "list-footer" });
    this.scroller = h("div", { class: "list-scroll" }, this.list, this.footer);
    this.listPane = h("aside", { class: "list-pane", "aria-label": "Message list" },
      h("div", { class: "list-toolbar" }, form, this.refreshButton, this.webhooksLink, this.deleteAllButton),
      hint,
      this.searchError,
      this.folderSwitch.el,
      this.meta,
      this.scroller,
    );
    this.readerPane = h("section", { class: "reader-pane", "aria-label": "Message" });
    this.webhooksPane = h("section", { class: "webhooks-pane", "aria-label": "Webhooks of this mailbox", hidden: true });
    this.el = h("div", { class: "inbox" }, this.listPane, this.readerPane, this.webhooksPane);
    replace(this.root, this.el);
    replace(this.list, listSkeleton());

    this.list.addEventListener("click", (e) => {
      const row = e.target instanceof Element ? e.target.closest("a.row") : null;
      if (!row || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      this.openMessage(row.dataset.id);
    });
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.loadMore();
    }, { root: this.scroller, rootMargin: "200px" });
    this.observer.observe(this.footer);
    this.renderHeader();
  }

  renderHeader() {
    this.ctx.setCenter(h("div", { class: "address-pill", title: this.address },
      icon("mail", { size: 16 }),
      h("span", { class: "address-text", dataset: { address: this.address }, text: this.address }),
      copyButton(this.address, "Copy address", { toastText: "Address copied", cls: "btn-small" }),
      this.claimSlot,
    ));
    this.updateTitle();
  }

  updateTitle() {
    const where = this.folder === INBOX ? "" : `${this.folder} · `;
    this.ctx.setTitle(`${this.unread > 0 ? `(${this.unread}) ` : ""}${where}${this.address}`);
  }

  // ----- loading --------------------------------------------------------------------------

  /** First page (or the first page of a search), replacing the list. */
  async load() {
    if (this.listController) this.listController.abort();
    const controller = new AbortController();
    this.listController = controller;
    this.loaded = false;
    this.loadError = null;
    this.searchError.hidden = true;
    replace(this.list, listSkeleton());
    replace(this.footer);
    this.meta.textContent = "";
    this.folderSwitch.setCurrent(this.folder);
    this.paintWebhooksLink();
    this.updateTitle();
    let page;
    try {
      page = await api.listMessages(this.address, { q: this.q || undefined, folder: this.folder, limit: PAGE_SIZE, signal: controller.signal });
    } catch (err) {
      if (controller.signal.aborted) return;
      this.showLoadError(err);
      return;
    }
    if (controller.signal.aborted) return;
    this.locked = false;
    this.adoptAddress(page.mailbox);
    this.refreshFolders();
    this.refreshAccess();
    this.messages = [...page.messages].sort(byNewest);
    this.byId = new Map(this.messages.map((m) => [m.id, m]));
    this.nextCursor = page.next_cursor;
    this.total = page.total;
    this.unread = page.unread;
    this.loaded = true;
    for (const row of this.rows.values()) row.remove();
    this.rows.clear();
    replace(this.list);
    this.syncRows();
    this.updateMeta();
    if (!this.live) this.startLive();
    const queued = this.pendingEvents;
    this.pendingEvents = [];
    for (const event of queued) this.applyEvent(event);
    if (this.resyncWanted) {
      this.resyncWanted = false;
      this.resync();
    }
    if (this.openId && !this.reader.id) this.reader.open(this.openId, this.byId.get(this.openId));
    if (!this.openId) this.reader.showEmpty(this.messages.length);
  }

  /** The server's normalised form of the address becomes the one in the URL and header. */
  adoptAddress(mailbox) {
    if (!mailbox || mailbox === this.address) {
      prefs.remember(this.address);
      return;
    }
    this.address = mailbox;
    prefs.remember(mailbox);
    this.renderHeader();
    const target = this.panel ? urls.webhooks(mailbox, this.q, this.folder)
      : this.openId ? urls.message(mailbox, this.openId, this.q, this.folder)
      : urls.inbox(mailbox, this.q, this.folder);
    window.history.replaceState(null, "", target);
    this.paintWebhooksLink();
    if (this.panel) this.webhooks.open(mailbox);
  }

  showLoadError(err) {
    this.loaded = false;
    this.loadError = err;
    replace(this.footer);
    if (err instanceof ApiError && (err.status === 401 || err.status === 403) && !err.missingRoute) {
      this.showLocked(err);
      return;
    }
    const badQuery = this.q && err instanceof ApiError && (err.status === 400 || err.status === 422);
    if (badQuery) {
      this.searchError.textContent = err.message || "That search doesn't parse.";
      this.searchError.hidden = false;
      replace(this.list, h("li", { class: "list-state" }, emptyState({
        iconName: "search",
        tone: "error",
        title: "Couldn't search",
        text: "Fix the query above (press ? for the syntax), or clear the search.",
        actions: [h("button", { type: "button", class: "btn", text: "Clear search", onclick: () => this.search("") })],
      })));
      if (!this.openId) this.reader.showEmpty(0);
      return;
    }
    if (err instanceof ApiError && err.code === "invalid_address") {
      replace(this.list, h("li", { class: "list-state" }, emptyState({
        iconName: "alert", tone: "error", title: "That isn't a valid address", text: err.message,
        actions: [h("a", { class: "btn btn-primary", href: "/", dataset: { link: "" }, text: "Choose another address" })],
      })));
      this.reader.showEmpty(0);
      return;
    }
    replace(this.list, h("li", { class: "list-state" }, emptyState({
      iconName: "alert", tone: "error", title: "Couldn't load this inbox", text: describeError(err, "This mailbox"),
      actions: [h("button", { type: "button", class: "btn btn-primary", text: "Try again", onclick: () => this.load() })],
    })));
  }

  async loadMore() {
    if (!this.loaded || !this.nextCursor || this.loadingMore) return;
    this.loadingMore = true;
    this.renderFooter();
    try {
      const page = await api.listMessages(this.address, { q: this.q || undefined, folder: this.folder, cursor: this.nextCursor, limit: PAGE_SIZE });
      for (const m of page.messages) {
        if (!this.byId.has(m.id)) {
          this.messages.push(m);
          this.byId.set(m.id, m);
        }
      }
      this.messages.sort(byNewest);
      this.nextCursor = page.next_cursor;
      this.syncRows();
    } catch (err) {
      toast(`Couldn't load older messages: ${describeError(err)}`, { kind: "error" });
    } finally {
      this.loadingMore = false;
      this.renderFooter();
    }
  }

  /** Re-read the first page and merge it in (after a reconnect, a refresh, or while polling). */
  async resync({ announce = false } = {}) {
    if (!this.loaded) {
      this.resyncWanted = true;
      return;
    }
    this.scheduleFolderRefresh();
    const folder = this.folder;
    const q = this.q;
    let page;
    try {
      page = await api.listMessages(this.address, { q: q || undefined, folder, limit: PAGE_SIZE });
    } catch (err) {
      if (announce) toast(describeError(err), { kind: "error" });
      return;
    }
    // The view moved on (another folder or search) while this page was on its way.
    if (folder !== this.folder || q !== this.q || !this.loaded) return;
    const fresh = [...page.messages].sort(byNewest);
    // The page is the truth for everything at least as new as its oldest message (or for
    // everything, when it is the only page); older rows loaded earlier are kept.
    const boundary = page.next_cursor && fresh.length ? fresh[fresh.length - 1].id : "";
    const older = this.messages.filter((m) => boundary && m.id < boundary);
    const arrived = new Set(fresh.filter((m) => !this.byId.has(m.id)).map((m) => m.id));
    const freshIds = new Set(fresh.map((m) => m.id));
    const vanished = this.messages.filter((m) => !freshIds.has(m.id) && !(boundary && m.id < boundary)).map((m) => m.id);
    this.messages = [...fresh, ...older];
    this.byId = new Map(this.messages.map((m) => [m.id, m]));
    if (!older.length) this.nextCursor = page.next_cursor;
    this.total = page.total;
    this.unread = page.unread;
    this.syncRows(arrived);
    this.updateMeta();
    if (this.openId && vanished.includes(this.openId)) this.reader.showGone();
    if (announce) toast(arrived.size ? `${plural(arrived.size, "new message")}` : "Up to date", { kind: "success", timeout: 1800 });
  }

  reload({ quiet = false, announce = false } = {}) {
    if (quiet && this.loaded) return this.resync({ announce });
    return this.load();
  }

  search(q) {
    if (!this.ctx.caps.search && q) {
      toast("Search isn't available on this server yet.", { kind: "error" });
      return;
    }
    this.ctx.navigate(urls.inbox(this.address, q, this.folder));
  }

  // ----- the app router calls these -------------------------------------------------------

  /** Same address, new URL: maybe another folder or search, maybe another open message. */
  show({ q = "", messageId = null, folder = INBOX, panel = null }) {
    const nextFolder = normaliseFolder(folder);
    if (q !== this.q || nextFolder !== this.folder) {
      this.q = q;
      this.folder = nextFolder;
      this.searchInput.value = q;
      this.load();
    }
    if (messageId !== this.openId) this.setOpen(messageId);
    if (panel !== this.panel) this.setPanel(panel);
  }

  /** Open (`"webhooks"`) or close (null) the webhooks panel beside the list. */
  setPanel(panel) {
    const open = panel === "webhooks";
    const wasOpen = this.panel === "webhooks";
    this.panel = open ? "webhooks" : null;
    this.el.classList.toggle("has-panel", open);
    this.webhooksPane.hidden = !open;
    this.paintWebhooksLink();
    if (open) {
      this.webhooks.open(this.address);
      if (!wasOpen) this.webhooks.focus();
    } else if (wasOpen) {
      const hadFocus = this.webhooksPane.contains(document.activeElement) || document.activeElement === document.body;
      this.webhooks.close();
      if (hadFocus && !this.webhooksLink.hidden) this.webhooksLink.focus({ preventScroll: true });
    }
  }

  /** The Webhooks button keeps the list's folder and search, and marks the open panel. */
  paintWebhooksLink() {
    this.webhooksLink.href = urls.webhooks(this.address, this.q, this.folder);
    if (this.panel) this.webhooksLink.setAttribute("aria-current", "page");
    else this.webhooksLink.removeAttribute("aria-current");
    this.webhooks.updateCloseHref();
  }

  unmount() {
    this.unmounted = true;
    this.webhooks.destroy();
    if (this.live) this.live.stop();
    this.live = null;
    clearInterval(this.pollTimer);
    clearTimeout(this.resyncTimer);
    clearTimeout(this.folderTimer);
    if (this.folderController) this.folderController.abort();
    this.folderSwitch.destroy();
    if (this.listController) this.listController.abort();
    this.reader.abort();
    this.observer.disconnect();
    this.ctx.setCenter(null);
    this.ctx.setLive(null);
  }

  // ----- access: claim, release, unlock ----------------------------------------------------

  /** Ask who this mailbox belongs to (public, claimed, owned) for the claim controls. */
  async refreshAccess() {
    if (!this.ctx.caps.claim) return null;
    try {
      this.access = await api.mailboxStatus(this.address);
    } catch {
      this.access = null;
    }
    if (!this.unmounted) this.paintClaim();
    return this.access;
  }

  /** The button beside the address: Claim (public), Release (claimed, readable here), or a badge. */
  paintClaim() {
    const kind = this.access && typeof this.access.kind === "string" ? this.access.kind : null;
    if (!kind || (this.locked && kind !== "owned")) {
      replace(this.claimSlot);
      return;
    }
    if (kind === "owned") {
      replace(this.claimSlot, h("span", { class: "kind-badge", title: "A private mailbox of an account", dataset: { kind } }, icon("user", { size: 14 }), h("span", { class: "kind-label", text: "Private" })));
      return;
    }
    const claimed = kind === "claimed";
    replace(this.claimSlot, h("button", {
      type: "button",
      class: "btn btn-small claim-btn",
      title: claimed ? "Release the claim: make this mailbox public again" : "Claim this mailbox with a password",
      dataset: { action: claimed ? "release" : "claim", kind },
      onclick: () => (claimed ? this.release() : this.claim()),
    }, icon(claimed ? "unlock" : "lock", { size: 15 }), h("span", { class: "btn-label", text: claimed ? "Release" : "Claim" })));
  }

  async claim() {
    const address = this.address;
    const done = await passwordDialog({
      title: "Claim this mailbox",
      text: ["Anyone who knows ", h("strong", { class: "break", text: address }), " can read it now. Claiming sets a password: from then on only people who enter it can read the mail (this browser stays unlocked)."],
      confirmLabel: "Claim",
      repeat: true,
      minLength: MIN_MAILBOX_PASSWORD,
      messages: {
        already_claimed: "Someone claimed this mailbox already.",
        409: "Someone claimed this mailbox already.",
      },
      submit: async (password) => {
        await api.claim(address, password);
        // The claim route proves nothing to later reads: unlock this browser with the same
        // password (an HttpOnly cookie), so the list and live updates keep working.
        try {
          await api.unlock(address, password);
        } catch {
          // reads will ask for the password
        }
      },
    });
    if (!done || this.unmounted) {
      if (!done) this.refreshAccess();
      return;
    }
    toast("Mailbox claimed: only people with the password can read it now", { kind: "success" });
    this.access = { ...(this.access || {}), kind: "claimed", claimed: true };
    this.paintClaim();
    this.restartLive();
  }

  async release() {
    const address = this.address;
    const done = await passwordDialog({
      title: "Release this mailbox",
      text: ["Enter the password of ", h("strong", { class: "break", text: address }), ". Released, it is public again: anyone who knows the address can read it."],
      confirmLabel: "Release",
      iconName: "unlock",
      messages: {
        not_claimed: "This mailbox isn't claimed (any more).",
        invalid_credentials: "Wrong password.",
        401: "Wrong password.",
        403: "Wrong password.",
      },
      submit: (password) => api.release(address, password),
    });
    if (!done || this.unmounted) return;
    toast("Mailbox released: it is public again", { kind: "success" });
    this.access = { ...(this.access || {}), kind: "public", claimed: false };
    this.paintClaim();
  }

  /** The list could not be read (401/403): ask for the mailbox password, a sign-in, or explain. */
  async showLocked(err) {
    this.locked = true;
    if (this.live) {
      this.live.stop();
      this.live = null;
    }
    this.reader.abort();
    this.reader.id = null;
    replace(this.readerPane, emptyState({ iconName: "lock", title: "Locked", text: "Messages of this mailbox show here once you may read them." }));
    const access = await this.refreshAccess();
    if (this.unmounted || this.loaded) return;
    const kind = access && access.kind;
    if (kind === "claimed" || (!kind && err.status === 401)) {
      // Unknown kind: the password may open it, or (anonymous) an account's sign-in.
      replace(this.list, h("li", { class: "list-state" }, this.unlockForm({ offerSignIn: !kind && !session.signedIn })));
      return;
    }
    if (err.status === 401 && !session.signedIn) {
      replace(this.list, h("li", { class: "list-state" }, signInPrompt("This mailbox belongs to an account. Sign in to read it.")));
      return;
    }
    replace(this.list, h("li", { class: "list-state" }, emptyState({
      iconName: "shield",
      tone: "error",
      title: "Not allowed",
      text: kind === "owned" ? "This mailbox belongs to another account." : describeError(err, "This mailbox"),
      actions: [h("a", { class: "btn", href: "/", dataset: { link: "" }, text: "Choose another address" })],
    })));
  }

  /** The password prompt of a claimed mailbox. */
  unlockForm({ offerSignIn = false } = {}) {
    const password = h("input", { class: "input", type: "password", name: "mailbox-password", autocomplete: "current-password", required: true });
    const error = new FormError();
    const button = h("button", { type: "submit", class: "btn btn-primary", dataset: { action: "unlock" } }, icon("unlock", { size: 16 }), h("span", { class: "btn-label", text: "Unlock" }));
    const form = h("form", { class: "unlock-form", novalidate: true, dataset: { unlock: "" } },
      h("div", { class: "empty-icon" }, icon("lock", { size: 28 })),
      h("h2", { class: "empty-title", text: offerSignIn ? "This mailbox is protected" : "This mailbox is claimed" }),
      h("p", { class: "empty-text" }, "Someone protected ", h("strong", { class: "break", text: this.address }), " with a password. Enter it to read the mail."),
      field("Mailbox password", password),
      error.el,
      button,
      offerSignIn ? h("p", { class: "unlock-alt" }, "Your account's mailbox? ", h("a", { href: urls.signIn(`${window.location.pathname}${window.location.search}`), dataset: { link: "" }, text: "Sign in" })) : null,
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.clear();
      if (!password.value) {
        error.show("Enter the password.");
        password.focus();
        return;
      }
      try {
        await busy(button, () => api.unlock(this.address, password.value), "Unlocking…");
      } catch (err) {
        const wrong = err instanceof ApiError && (err.status === 401 || err.status === 403);
        error.show(wrong ? "Wrong password." : err instanceof ApiError && err.status === 429 ? retryText(err) : describeError(err));
        password.select();
        password.focus();
        return;
      }
      password.value = "";
      toast("Unlocked", { kind: "success", timeout: 2000 });
      this.load();
    });
    requestAnimationFrame(() => {
      if (password.isConnected) password.focus({ preventScroll: true });
    });
    return form;
  }

  /** Reconnect the live feed, so the handshake carries cookies set since it opened. */
  restartLive() {
    if (!this.live) return;
    this.live.stop();
    this.live = null;
    this.startLive();
  }

  // ----- rows -----------------------------------------------------------------------------

  rowFor(m) {
    const from = parseMailbox(m.from);
    const label = senderLabel(m.from);
    const row = h("a", {
      class: ["row", !m.seen && "unread"],
      href: urls.message(this.address, m.id, this.q, this.folder),
      dataset: { id: m.id },
    },
      h("span", { class: "unread-dot", title: "Unread" }),
      avatar(label, from.email),
      h("span", { class: "row-main" },
        h("span", { class: "row-top" },
          h("span", { class: "row-from", text: label }),
          timeAgo(m.date || m.received_at, { cls: "row-time" }),
        ),
        h("span", { class: "row-bottom" },
          h("span", { class: "row-subject", text: m.subject || "(no subject)" }),
          m.has_attachments ? h("span", { class: "row-clip", title: "Has attachments" }, icon("paperclip", { size: 14 })) : null,
          h("span", { class: "row-size", text: formatSize(m.size) }),
        ),
      ),
    );
    return h("li", { class: "row-item", dataset: { id: m.id } }, row);
  }

  /** Make the list show `this.messages` in order, reusing rows; highlight `arrived` ones. */
  syncRows(arrived = new Set()) {
    const items = [];
    const keep = new Set();
    for (const m of this.messages) {
      let item = this.rows.get(m.id);
      if (!item) {
        item = this.rowFor(m);
        this.rows.set(m.id, item);
        if (arrived.has(m.id)) this.highlight(item);
      }
      this.paintRow(item, m);
      keep.add(m.id);
      items.push(item);
    }
    for (const [id, item] of this.rows) {
      if (!keep.has(id)) {
        this.rows.delete(id);
        item.remove();
      }
    }
    if (!items.length) {
      replace(this.list, h("li", { class: "list-state" }, this.emptyList()));
    } else {
      for (const stale of this.list.querySelectorAll(".list-state, .skeleton-row")) stale.remove();
      // Put rows in order, touching only those out of place (keeps animations and focus).
      let anchor = this.list.firstElementChild;
      for (const item of items) {
        if (item === anchor) {
          anchor = anchor.nextElementSibling;
        } else {
          this.list.insertBefore(item, anchor);
        }
      }
    }
    if (this.cursorId && !this.byId.has(this.cursorId)) this.cursorId = null;
    this.renderFooter();
    this.reader.refreshPosition();
  }

  paintRow(item, m) {
    const row = item.firstElementChild;
    row.classList.toggle("unread", !m.seen);
    row.classList.toggle("open", m.id === this.openId);
    row.classList.toggle("cursor", m.id === this.cursorId);
    if (m.id === this.openId) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }

  repaint(id) {
    const item = this.rows.get(id);
    const m = this.byId.get(id);
    if (item && m) this.paintRow(item, m);
  }

  highlight(item) {
    item.classList.add("arrived");
    setTimeout(() => item.classList.remove("arrived"), 2600);
  }

  emptyList() {
    if (this.q) {
      return emptyState({
        iconName: "search",
        title: "No matches",
        text: ["Nothing in this inbox matches ", h("code", { text: this.q }), "."],
        actions: [h("button", { type: "button", class: "btn", text: "Clear search", onclick: () => this.search("") })],
      });
    }
    if (this.folder !== INBOX) {
      const known = this.folders.find((f) => f.name === this.folder);
      const missing = this.foldersLoaded && !known;
      return emptyState({
        iconName: folderIconName(this.folder, known ? known.special_use : null),
        title: missing ? `There is no folder “${this.folder}”` : `${folderLabel(this.folder)} is empty`,
        text: !missing
          ? "Messages an email client puts in this folder over IMAP show up here."
          : "An email client may have renamed or deleted it.",
        actions: [h("a", { class: "btn", href: urls.inbox(this.address), dataset: { link: "" }, text: "Back to the inbox" })],
      });
    }
    return emptyState({
      iconName: "inbox",
      pulse: this.live && this.live.status === "live",
      title: "Waiting for mail",
      text: ["Messages sent to ", h("strong", { class: "break", text: this.address }), " show up here the moment they arrive."],
      actions: [copyButton(this.address, "Copy address", { withLabel: "Copy address", toastText: "Address copied", cls: "btn-primary" })],
    });
  }

  renderFooter() {
    if (!this.loaded) return;
    if (this.nextCursor) {
      replace(this.footer, h("button", {
        type: "button",
        class: "btn btn-ghost load-more",
        disabled: this.loadingMore,
        text: this.loadingMore ? "Loading…" : "Load older messages",
        onclick: () => this.loadMore(),
      }));
    } else if (this.messages.length > 8) {
      replace(this.footer, h("p", { class: "list-end", text: this.q ? "End of results" : "That's everything" }));
    } else {
      replace(this.footer);
    }
  }

  updateMeta() {
    if (!this.loaded) return;
    const parts = [];
    if (this.q) parts.push(h("span", { text: `${plural(this.total, "match", "matches")}` }));
    else parts.push(h("span", { text: plural(this.total, "message") }));
    if (this.unread > 0) parts.push(h("span", { class: "meta-unread", text: `${this.unread.toLocaleString()} unread` }));
    if (this.q) {
      parts.push(h("button", { type: "button", class: "link-button", text: "Clear search", onclick: () => this.search("") }));
    }
    replace(this.meta, parts.map((p, i) => [i ? h("span", { class: "dot-sep", "aria-hidden": "true", text: "·" }) : null, p]));
    this.updateTitle();
    if (!this.messages.length) {
      const state = this.list.querySelector(".list-state");
      if (state) replace(state, this.emptyList());
    }
  }

  // ----- selection and opening -----------------------------------------------------------

  setOpen(messageId) {
    const previous = this.openId;
    this.openId = messageId;
    if (messageId) this.cursorId = messageId;
    this.el.classList.toggle("has-open", Boolean(messageId));
    if (previous) this.repaint(previous);
    if (messageId) {
      this.repaint(messageId);
      this.scrollToRow(messageId);
      this.reader.open(messageId, this.byId.get(messageId));
    } else {
      for (const id of this.rows.keys()) this.repaint(id);
      if (this.loaded) this.reader.showEmpty(this.messages.length);
    }
  }

  openMessage(id) {
    if (!id) return;
    if (id === this.openId) return;
    this.ctx.navigate(urls.message(this.address, id, this.q, this.folder));
  }

  closeMessage() {
    this.ctx.navigate(urls.inbox(this.address, this.q, this.folder));
  }

  moveCursor(step) {
    if (!this.messages.length) return;
    const ids = this.messages.map((m) => m.id);
    let index = ids.indexOf(this.cursorId || this.openId);
    index = index < 0 ? (step > 0 ? 0 : ids.length - 1) : Math.min(ids.length - 1, Math.max(0, index + step));
    const previous = this.cursorId;
    this.cursorId = ids[index];
    if (previous) this.repaint(previous);
    this.repaint(this.cursorId);
    this.scrollToRow(this.cursorId);
    if (index >= ids.length - 3) this.loadMore();
  }

  scrollToRow(id) {
    const item = this.rows.get(id);
    if (item) item.scrollIntoView({ block: "nearest", behavior: prefersReducedMotion() ? "auto" : "smooth" });
  }

  /** Where message `id` sits in the loaded list, and its neighbours (null when not listed). */
  position(id) {
    const index = this.messages.findIndex((m) => m.id === id);
    if (index < 0) return null;
    return {
      index,
      count: this.total,
      newer: index > 0 ? this.messages[index - 1].id : null,
      older: index + 1 < this.messages.length ? this.messages[index + 1].id : null,
    };
  }

  /** What keyboard actions apply to: the highlighted row, else the open message. */
  currentId() {
    return this.cursorId || this.openId;
  }

  // ----- actions --------------------------------------------------------------------------

  applySeen(id, seen) {
    const m = this.byId.get(id);
    if (m && m.seen !== seen) {
      m.seen = seen;
      this.unread = Math.max(0, this.unread + (seen ? -1 : 1));
      this.repaint(id);
      this.updateMeta();
    }
    this.reader.syncSeen(id, seen);
  }

  /** Mark read or unread (optimistic; undone when the server refuses). */
  async setSeen(id, seen, { quiet = false } = {}) {
    if (!this.ctx.caps.markRead) {
      if (!quiet) toast("Marking messages read isn't available on this server yet.", { kind: "error" });
      return;
    }
    const m = this.byId.get(id);
    const before = m ? m.seen : !seen;
    this.applySeen(id, seen);
    // One write at a time per message, so quick toggles reach the server in order.
    const previous = this.seenWrites.get(id) || Promise.resolve();
    const write = previous.catch(() => {}).then(() => api.setSeen(id, seen));
    this.seenWrites.set(id, write);
    try {
      await write;
    } catch (err) {
      this.applySeen(id, before);
      if (!quiet) toast(describeError(err, "Marking messages read"), { kind: "error" });
    } finally {
      if (this.seenWrites.get(id) === write) this.seenWrites.delete(id);
    }
  }

  toggleSeen(id) {
    const m = this.byId.get(id);
    const seen = m ? m.seen : this.reader.message && this.reader.message.id === id ? this.reader.message.seen : false;
    this.setSeen(id, !seen);
  }

  async deleteMessage(id) {
    if (!id) return;
    try {
      await api.deleteMessage(id);
    } catch (err) {
      const alreadyGone = err instanceof ApiError && err.status === 404 && !err.missingRoute;
      if (!alreadyGone) {
        toast(describeError(err, "Deleting messages"), { kind: "error" });
        return;
      }
    }
    this.removeMessage(id, { byUser: true });
    toast("Message deleted", { kind: "success", timeout: 2200 });
  }

  /**
   * Take a message out of the list (deleted here, or anywhere: a live event; or moved to
   * the folder `movedTo` by an IMAP client).
   */
  removeMessage(id, { byUser = false, movedTo = null } = {}) {
    const index = this.messages.findIndex((m) => m.id === id);
    if (index >= 0) {
      const [m] = this.messages.splice(index, 1);
      this.byId.delete(id);
      this.total = Math.max(0, this.total - 1);
      if (!m.seen) this.unread = Math.max(0, this.unread - 1);
      if (this.cursorId === id) {
        const next = this.messages[index] || this.messages[index - 1];
        this.cursorId = next ? next.id : null;
        if (next) this.repaint(next.id);
      }
      const item = this.rows.get(id);
      this.rows.delete(id);
      if (item) {
        if (prefersReducedMotion()) {
          item.remove();
        } else {
          item.classList.add("leaving");
          setTimeout(() => item.remove(), 220);
        }
      }
      if (!this.messages.length) replace(this.list, h("li", { class: "list-state" }, this.emptyList()));
      this.updateMeta();
      this.renderFooter();
      this.reader.refreshPosition();
    }
    if (this.openId === id) {
      if (byUser) {
        this.closeMessage();
      } else if (movedTo) {
        this.reader.showMoved(folderLabel(movedTo), urls.message(this.address, id, "", movedTo));
      } else {
        this.reader.showGone();
      }
    }
  }

  async deleteAll() {
    if (!this.ctx.caps.deleteAll) {
      toast("Deleting all messages isn't available on this server yet.", { kind: "error" });
      return;
    }
    if (!this.loaded || this.total === 0) {
      toast(this.q ? "No messages match this search." : "This inbox is already empty.");
      return;
    }
    const everyFolder = this.folders.length > 1 ? ", in every folder" : "";
    const ok = await confirmDialog({
      title: this.q ? "Delete matching messages?" : "Delete all messages?",
      message: this.q
        ? `This deletes the ${plural(this.total, "message")} in ${this.address} that match “${this.q}”${everyFolder}. This can't be undone.`
        : this.folder === INBOX && !everyFolder
          ? `This deletes all ${plural(this.total, "message")} in ${this.address}. This can't be undone.`
          : `This deletes every message of ${this.address}${everyFolder}, not only this folder. This can't be undone.`,
      confirmLabel: this.q ? "Delete matching" : "Delete all",
      danger: true,
    });
    if (!ok) return;
    try {
      const result = await api.deleteAll(this.address, this.q || undefined);
      const count = result && Number.isFinite(result.deleted) ? result.deleted : 0;
      toast(`Deleted ${plural(count, "message")}`, { kind: "success" });
    } catch (err) {
      toast(describeError(err, "Deleting all messages"), { kind: "error" });
      return;
    }
    if (this.openId) this.closeMessage();
    await this.load();
  }

  // ----- live updates ---------------------------------------------------------------------

  startLive() {
    this.live = new LiveFeed(this.address, {
      onStatus: (status) => this.onLiveStatus(status),
      onOpen: ({ resumed }) => {
        // A fresh subscription may have missed what arrived since the list was read.
        if (!resumed) this.resync();
      },
      onEvent: (event) => {
        if (!this.loaded) {
          this.pendingEvents.push(event);
          return;
        }
        this.applyEvent(event);
      },
    });
    this.live.start();
  }

  onLiveStatus(status) {
    this.ctx.setLive(status);
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    if (status === "offline") {
      // No event stream (down, or not offered by this server): poll instead.
      this.pollTimer = setInterval(() => this.resync(), POLL_INTERVAL_MS);
    }
    const pulse = this.list.querySelector(".empty-icon");
    if (pulse && !this.q) pulse.classList.toggle("pulse", status === "live");
  }

  /**
   * One live event of this mailbox. Events name their folder (`data.folder`, INBOX when
   * absent); only those of the folder shown change the list, except under a search, which
   * spans every folder. Most events change some folder's counts, so those are re-read.
   */
  applyEvent(event) {
    if (event.mailbox && event.mailbox !== this.address) return;
    this.webhooks.onMailboxEvent();
    const data = event.data && typeof event.data === "object" ? event.data : {};
    if (COUNTED_EVENTS.has(event.type)) this.scheduleFolderRefresh();
    const shown = Boolean(this.q) || normaliseFolder(data.folder) === this.folder;
    switch (event.type) {
      case "message.received":
        if (shown) this.onReceived(event, data);
        break;
      case "message.deleted":
        if (shown && event.message_id) this.removeMessage(event.message_id);
        break;
      case "message.read":
        // While our own writes are in flight their echoes would flicker the row: skip them.
        if (shown && event.message_id && typeof data.seen === "boolean" && !this.seenWrites.has(event.message_id)) {
          this.applySeen(event.message_id, data.seen);
        }
        break;
      case "message.moved":
        this.onMoved(event, data);
        break;
      default:
        break;
    }
  }

  /** Re-read the first page soon (a burst of events costs one request). */
  scheduleResync() {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => this.resync(), RESYNC_DELAY_MS);
  }

  /** A message changed folders (IMAP MOVE): it leaves the list, or joins it. */
  onMoved(event, data) {
    const id = event.message_id;
    if (!id || this.q) return; // a search spans every folder: the row stays
    const from = normaliseFolder(data.from_folder);
    const to = normaliseFolder(data.folder);
    if (from === to) return;
    if (from === this.folder) this.removeMessage(id, { movedTo: to });
    // The event carries no summary: the listing has it (and knows where the row sorts).
    if (to === this.folder) this.scheduleResync();
  }

  onReceived(event, data) {
    const id = event.message_id;
    if (!id || this.byId.has(id)) return;
    if (this.q) {
      // Only the server knows whether the new message matches the search.
      this.scheduleResync();
      return;
    }
    const oldest = this.messages[this.messages.length - 1];
    if (this.nextCursor && oldest && id < oldest.id) return; // belongs to a page not loaded yet
    // An IMAP APPEND may store a message already read (e.g. a copy in Sent).
    const seen = typeof data.seen === "boolean" ? data.seen : false;
    const m = {
      id,
      mailbox: this.address,
      folder: this.folder,
      uid: Number.isFinite(data.uid) ? data.uid : null,
      subject: typeof data.subject === "string" ? data.subject : "(no subject)",
      from: typeof data.from === "string" ? data.from : "",
      size: Number.isFinite(data.size) ? data.size : 0,
      has_attachments: Boolean(data.has_attachments),
      seen,
      received_at: event.created_at || new Date().toISOString(),
      to: [this.address],
      cc: [],
    };
    this.messages.push(m);
    this.messages.sort(byNewest);
    this.byId.set(id, m);
    this.total += 1;
    if (!seen) this.unread += 1;
    this.syncRows(new Set([id]));
    this.updateMeta();
    if (!this.openId) this.reader.showEmpty(this.messages.length);
  }

  // ----- folders --------------------------------------------------------------------------

  scheduleFolderRefresh() {
    if (!this.ctx.caps.folders) return;
    clearTimeout(this.folderTimer);
    this.folderTimer = setTimeout(() => this.refreshFolders(), FOLDER_REFRESH_DELAY_MS);
  }

  /** Re-read the folder list and its counts for the switcher. */
  async refreshFolders() {
    clearTimeout(this.folderTimer);
    if (!this.ctx.caps.folders) {
      this.folderSwitch.update([], this.folder);
      return;
    }
    if (this.folderController) this.folderController.abort();
    const controller = new AbortController();
    this.folderController = controller;
    let body;
    try {
      body = await api.folders(this.address, controller.signal);
    } catch (err) {
      if (controller.signal.aborted) return;
      if (err instanceof ApiError && err.missingRoute) this.ctx.caps.folders = false;
      return; // the switcher keeps what it showed; the next event tries again
    }
    if (controller.signal.aborted) return;
    this.folders = body && Array.isArray(body.folders) ? body.folders : [];
    this.foldersLoaded = true;
    this.folderSwitch.update(this.folders, this.folder);
    if (!this.messages.length && this.loaded) {
      const state = this.list.querySelector(".list-state");
      if (state && !this.q) replace(state, this.emptyList());
    }
  }

  // ----- keyboard -------------------------------------------------------------------------

  /** Returns true when the key was used. */
  handleKey(e) {
    const inReader = e.target instanceof Element && Boolean(e.target.closest(".reader-pane"));
    const onControl = e.target instanceof Element && Boolean(e.target.closest("button, a, summary, [role=tab]"));
    // The webhooks panel: Escape goes back to the messages; its own controls take other keys.
    if (this.panel && e.key === "Escape") {
      this.ctx.navigate(urls.inbox(this.address, this.q, this.folder));
      return true;
    }
    if (e.target instanceof Element && e.target.closest(".webhooks-pane")) return false;
    switch (e.key) {
      case "j":
        this.moveCursor(1);
        return true;
      case "k":
        this.moveCursor(-1);
        return true;
      case "ArrowDown":
      case "ArrowUp":
        if (inReader) return false;
        this.moveCursor(e.key === "ArrowDown" ? 1 : -1);
        return true;
      case "Enter":
      case "o": {
        if (e.key === "Enter" && onControl && !(e.target instanceof Element && e.target.closest("a.row"))) return false;
        if (!this.cursorId) this.moveCursor(1);
        if (!this.cursorId) return false;
        this.openMessage(this.cursorId);
        return true;
      }
      case "Delete":
      case "#": {
        const id = this.currentId();
        if (!id) return false;
        this.deleteMessage(id);
        return true;
      }
      case "r": {
        const id = this.currentId();
        if (!id) return false;
        this.toggleSeen(id);
        return true;
      }
      case "/":
        if (this.searchInput.disabled) {
          toast("Search isn't available on this server yet.");
          return true;
        }
        this.searchInput.focus();
        this.searchInput.select();
        return true;
      case "Escape":
        if (this.openId) {
          this.closeMessage();
          return true;
        }
        if (this.cursorId) {
          const previous = this.cursorId;
          this.cursorId = null;
          this.repaint(previous);
          return true;
        }
        return false;
      case "f":
        if (!this.folderSwitch.visible) return false;
        this.folderSwitch.open({ focus: "current" });
        return true;
      case "c":
        copyText(this.address).then((ok) => toast(ok ? "Address copied" : "Couldn't copy the address", { kind: ok ? "success" : "error", timeout: 2000 }));
        return true;
      default:
        return false;
    }
  }
}

