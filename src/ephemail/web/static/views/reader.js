// The message reader: header, codes and links, attachments, and the HTML / Text / Headers /
// Source tabs. The HTML body is shown only inside a sandboxed iframe (no scripts, no
// same-origin access) loaded from the API's /html route, which sends its own strict CSP.
import { api, ApiError, describeError, urls } from "../lib/api.js";
import { h, replace, safeHttpUrl } from "../lib/dom.js";
import { formatSize, fullDate, parseMailbox, plural, relativeTime, senderLabel } from "../lib/format.js";
import { icon, iconButton } from "../lib/icons.js";
import { prefs } from "../lib/prefs.js";
import { copyButton } from "../lib/ui.js";
import { avatar, emptyState, kbd, readerSkeleton } from "../lib/widgets.js";

// Popups let links in the mail open in a new tab; scripts and same-origin stay forbidden.
export const IFRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox";
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/g;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}>]+$/;
// Messages whose remote images the user chose to show (this tab only).
const remoteAllowed = new Set();

export class ReaderView {
  /**
   * @param {HTMLElement} root
   * @param {object} ctx the app context (capabilities, navigation)
   * @param {{setSeen: Function, deleteMessage: Function, back: Function, openMessage: Function,
   *          position: Function}} inbox
   */
  constructor(root, ctx, inbox) {
    this.root = root;
    this.ctx = ctx;
    this.inbox = inbox;
    this.id = null;
    this.message = null;
    this.controller = null;
    this.seenButton = null;
  }

  /** Nothing open: a hint on how to open something. */
  showEmpty(count) {
    this.abort();
    this.id = null;
    this.message = null;
    this.stepper = null;
    replace(this.root, emptyState({
      iconName: "mail-open",
      title: count ? "Select a message" : "Nothing to read yet",
      text: count
        ? ["Pick one from the list, or press ", kbd("j"), " / ", kbd("k"), " and ", kbd("Enter"), "."]
        : "Messages you receive open here.",
    }));
  }

  abort() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  /** Open message `id`; `summary` (from the list) lets the header show at once. */
  async open(id, summary = null) {
    this.abort();
    this.id = id;
    this.message = null;
    const controller = new AbortController();
    this.controller = controller;
    replace(this.root, this.renderLoading(summary));
    this.root.scrollTop = 0;
    let message;
    try {
      message = await api.message(id, controller.signal);
    } catch (err) {
      if (controller.signal.aborted) return;
      this.renderError(err);
      return;
    }
    if (controller.signal.aborted || this.id !== id) return;
    this.message = message;
    replace(this.root, this.render(message));
    this.root.scrollTop = 0;
    if (!message.seen) this.inbox.setSeen(id, true, { quiet: true });
    if (this.ctx.caps.extract) this.loadExtract(message, controller.signal);
  }

  /** The open message was deleted elsewhere. */
  showGone() {
    this.abort();
    this.message = null;
    replace(this.root, emptyState({
      iconName: "trash",
      title: "This message was deleted",
      text: "It was removed from the mailbox while you were reading it.",
      actions: [h("button", { type: "button", class: "btn", onclick: () => this.inbox.back(), text: "Back to the inbox" })],
    }));
  }

  /** The open message left the folder shown (an IMAP client moved it to `folderName`). */
  showMoved(folderName, href) {
    this.abort();
    this.id = null; // no longer open here: following the link to its folder opens it again
    this.message = null;
    replace(this.root, emptyState({
      iconName: "folder",
      title: "This message was moved",
      text: `An email client moved it to ${folderName} while you were reading it.`,
      actions: [
        h("a", { class: "btn btn-primary", href, dataset: { link: "" }, text: `Open it in ${folderName}` }),
        h("button", { type: "button", class: "btn", onclick: () => this.inbox.back(), text: "Back to the list" }),
      ],
    }));
  }

  /** Reflect a read/unread change made anywhere (button, keyboard, another client). */
  syncSeen(id, seen) {
    if (!this.message || this.message.id !== id) return;
    this.message.seen = seen;
    if (this.seenButton) {
      const fresh = this.makeSeenButton(this.message);
      this.seenButton.replaceWith(fresh);
      this.seenButton = fresh;
    }
  }

  renderLoading(summary) {
    if (!summary) return h("article", { class: "reader" }, readerSkeleton());
    return h("article", { class: "reader", "aria-busy": "true" },
      h("div", { class: "reader-head" },
        this.renderToolbar(null),
        h("h1", { class: "reader-subject", text: summary.subject || "(no subject)" }),
        this.renderFrom(summary),
      ),
      h("div", { class: "reader-skeleton compact" }, h("span", { class: "skeleton skeleton-body" })),
    );
  }

  renderError(err) {
    const gone = err instanceof ApiError && err.status === 404 && !err.missingRoute;
    replace(this.root, emptyState({
      iconName: gone ? "trash" : "alert",
      tone: gone ? "" : "error",
      title: gone ? "This message doesn't exist" : "Couldn't open this message",
      text: gone ? "It may have expired or been deleted." : describeError(err),
      actions: [
        gone ? null : h("button", { type: "button", class: "btn btn-primary", text: "Try again", onclick: () => this.open(this.id) }),
        h("button", { type: "button", class: "btn", text: "Back to the inbox", onclick: () => this.inbox.back() }),
      ].filter(Boolean),
    }));
  }

  renderToolbar(message) {
    const back = iconButton("back", "Back to the inbox", { cls: "reader-back", iconOnly: true, onClick: () => this.inbox.back() });
    if (!message) return h("div", { class: "reader-toolbar" }, back);
    this.seenButton = this.makeSeenButton(message);
    this.stepper = h("div", { class: "stepper" });
    this.refreshPosition();
    return h("div", { class: "reader-toolbar" },
      back,
      this.stepper,
      h("div", { class: "toolbar-spacer" }),
      this.seenButton,
      h("a", { class: "btn", href: urls.raw(message.id), download: true, title: "Download the original message (.eml)" },
        icon("download"), h("span", { class: "btn-label", text: ".eml" }),
      ),
      iconButton("trash", "Delete", {
        cls: "btn-danger-ghost",
        dataset: { action: "delete" },
        onClick: () => this.inbox.deleteMessage(message.id),
      }),
    );
  }

  /** "3 of 12" with newer/older buttons; redrawn when the list around the message changes. */
  refreshPosition() {
    if (!this.stepper || !this.message) return;
    const place = this.inbox.position(this.message.id);
    if (!place) {
      replace(this.stepper);
      return;
    }
    replace(this.stepper,
      iconButton("up", "Newer message", { iconOnly: true, disabled: !place.newer, onClick: () => this.inbox.openMessage(place.newer) }),
      iconButton("down", "Older message", { iconOnly: true, disabled: !place.older, onClick: () => this.inbox.openMessage(place.older) }),
      h("span", { class: "stepper-text", text: `${place.index + 1} of ${place.count.toLocaleString()}` }),
    );
  }

  makeSeenButton(message) {
    return iconButton(message.seen ? "mail" : "mail-open", message.seen ? "Mark unread" : "Mark read", {
      dataset: { action: "toggle-seen" },
      onClick: () => this.inbox.setSeen(message.id, !message.seen),
    });
  }

  renderFrom(message) {
    const from = parseMailbox(message.from);
    const label = senderLabel(message.from);
    const when = message.date || message.received_at;
    const recipients = (list) => (list || []).join(", ");
    return h("div", { class: "reader-from" },
      avatar(label, from.email, { size: "lg" }),
      h("div", { class: "from-text" },
        h("div", { class: "from-line" },
          h("span", { class: "from-name", text: label }),
          from.name && from.email ? h("span", { class: "from-email", text: from.email }) : null,
        ),
        message.to && message.to.length
          ? h("div", { class: "rcpt-line" }, h("span", { class: "rcpt-label", text: "To" }), h("span", { class: "rcpt-list", text: recipients(message.to) }))
          : null,
        message.cc && message.cc.length
          ? h("div", { class: "rcpt-line" }, h("span", { class: "rcpt-label", text: "Cc" }), h("span", { class: "rcpt-list", text: recipients(message.cc) }))
          : null,
      ),
      when
        ? h("div", { class: "reader-date" },
            h("time", { datetime: when, title: `Received ${fullDate(message.received_at)}`, text: fullDate(when) }),
            h("time", { class: "reader-ago", datetime: when, dataset: { relative: when }, text: relativeTime(when) }),
          )
        : null,
    );
  }

  render(message) {
    const hasHtml = typeof message.html === "string" && message.html.length > 0;
    const tabs = [
      hasHtml ? { key: "html", label: "HTML", render: () => this.renderHtml(message) } : null,
      { key: "text", label: "Text", render: () => this.renderText(message, hasHtml) },
      { key: "headers", label: "Headers", render: () => this.renderHeaders(message) },
      { key: "source", label: "Source", render: () => this.renderSource(message) },
    ].filter(Boolean);
    const remembered = prefs.tab();
    let current = hasHtml ? "html" : "text";
    if (remembered === "text") current = "text";

    const panel = h("div", { class: "tab-panel", role: "tabpanel", id: "reader-panel" });
    const buttons = tabs.map((tab) => h("button", {
      type: "button",
      role: "tab",
      class: "tab",
      id: `tab-${tab.key}`,
      "aria-controls": "reader-panel",
      dataset: { tab: tab.key },
      text: tab.label,
      onclick: () => select(tab.key, true),
    }));
    const select = (key, chosen) => {
      const tab = tabs.find((t) => t.key === key) || tabs[0];
      for (const button of buttons) {
        const active = button.dataset.tab === tab.key;
        button.setAttribute("aria-selected", String(active));
        button.tabIndex = active ? 0 : -1;
      }
      panel.setAttribute("aria-labelledby", `tab-${tab.key}`);
      panel.dataset.tab = tab.key;
      replace(panel, tab.render());
      if (chosen && (tab.key === "html" || tab.key === "text")) prefs.setTab(tab.key);
    };
    const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Message views" }, buttons);
    tablist.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault();
      const index = buttons.indexOf(document.activeElement);
      const next = buttons[(index + (e.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
      next.focus();
      select(next.dataset.tab, true);
    });
    select(current, false);

    this.extractSlot = h("div", { class: "extract-slot" });
    return h("article", { class: "reader", dataset: { messageId: message.id } },
      h("div", { class: "reader-head" },
        this.renderToolbar(message),
        h("h1", { class: "reader-subject", text: message.subject || "(no subject)" }),
        this.renderFrom(message),
      ),
      this.extractSlot,
      this.renderAttachments(message),
      tablist,
      panel,
    );
  }

  renderHtml(message) {
    if (!this.ctx.caps.html) {
      return emptyState({
        iconName: "code",
        title: "HTML view not available",
        text: "This server doesn't serve message HTML yet. The Text and Source tabs still work.",
      });
    }
    const remote = remoteAllowed.has(message.id);
    const frame = h("iframe", {
      class: "html-frame",
      title: `Message: ${message.subject || "(no subject)"}`,
      sandbox: IFRAME_SANDBOX,
      referrerpolicy: "no-referrer",
      src: urls.html(message.id, remote),
    });
    const banner = message.remote_content && !remote
      ? h("div", { class: "banner", role: "note" },
          icon("shield", { size: 18 }),
          h("span", { class: "banner-text", text: "Remote images blocked to protect your privacy." }),
          h("button", {
            type: "button",
            class: "btn btn-small",
            text: "Show images",
            onclick: () => {
              remoteAllowed.add(message.id);
              frame.src = urls.html(message.id, true);
              banner.remove();
            },
          }),
        )
      : null;
    return h("div", { class: "html-view" }, banner, h("div", { class: "frame-wrap" }, frame));
  }

  renderText(message, hasHtml) {
    if (!message.text) {
      return emptyState({
        iconName: "file",
        title: "No plain-text part",
        text: hasHtml ? "This message only has an HTML version." : "This message has no body.",
      });
    }
    return h("pre", { class: "text-body" }, linkify(message.text));
  }

  renderHeaders(message) {
    const rows = (message.headers || []).map(([name, value]) => h("tr", null,
      h("th", { scope: "row", text: name }),
      h("td", { text: value }),
    ));
    return h("div", { class: "headers-wrap" },
      h("table", { class: "headers-table" },
        h("caption", { class: "visually-hidden", text: "Message headers" }),
        h("tbody", null, rows),
      ),
    );
  }

  renderSource(message) {
    const wrap = h("div", { class: "source-view" }, h("div", { class: "reader-skeleton compact" }, h("span", { class: "skeleton skeleton-body" })));
    const signal = this.controller ? this.controller.signal : undefined;
    api.source(message.id, signal).then(({ text, size, truncated }) => {
      replace(wrap,
        h("div", { class: "source-bar" },
          h("span", { class: "muted", text: `${formatSize(size)}${truncated ? " · showing the first 2 MB" : ""}` }),
          h("div", { class: "toolbar-spacer" }),
          copyButton(text, "Copy source", { withLabel: true, toastText: "Source copied" }),
          h("a", { class: "btn", href: urls.raw(message.id), download: true }, icon("download"), h("span", { class: "btn-label", text: "Download .eml" })),
        ),
        h("pre", { class: "source-body", text }),
      );
    }).catch((err) => {
      if (signal && signal.aborted) return;
      replace(wrap, emptyState({ iconName: "alert", tone: "error", title: "Couldn't load the source", text: describeError(err) }));
    });
    return wrap;
  }

  renderAttachments(message) {
    const attachments = message.attachments || [];
    if (!attachments.length) return null;
    const available = this.ctx.caps.attachments;
    const total = attachments.reduce((sum, a) => sum + (a.size || 0), 0);
    return h("section", { class: "attachments", "aria-label": "Attachments" },
      h("div", { class: "section-label" },
        icon("paperclip", { size: 15 }),
        h("span", { text: `${plural(attachments.length, "attachment")} · ${formatSize(total)}` }),
      ),
      h("ul", { class: "chips" }, attachments.map((a) => {
        const name = a.filename || `attachment-${a.index + 1}`;
        const isImage = String(a.content_type || "").startsWith("image/");
        const content = [
          h("span", { class: "chip-icon" }, icon(isImage ? "image" : "file", { size: 18 })),
          h("span", { class: "chip-text" },
            h("span", { class: "chip-name", text: name }),
            h("span", { class: "chip-meta", text: `${formatSize(a.size)} · ${a.content_type || "unknown type"}` }),
          ),
          available ? icon("download", { size: 16, cls: "chip-dl" }) : null,
        ];
        return h("li", null, available
          ? h("a", { class: "chip attachment", href: urls.attachment(message.id, a.index), download: true, title: `Download ${name}`, dataset: { index: a.index } }, content)
          : h("span", { class: "chip attachment disabled", title: "Attachment download isn't available on this server yet." }, content));
      })),
    );
  }

  async loadExtract(message, signal) {
    let found;
    try {
      found = await api.extract(message.id, signal);
    } catch (err) {
      if (!(signal && signal.aborted) && !(err instanceof ApiError && err.missingRoute)) {
        console.warn("codes and links unavailable:", err);
      }
      return;
    }
    if ((signal && signal.aborted) || !this.extractSlot || this.id !== message.id) return;
    const codes = (found && Array.isArray(found.codes) ? found.codes : []).filter((c) => c && typeof c.value === "string");
    const links = (found && Array.isArray(found.links) ? found.links : [])
      .map((l) => ({ url: safeHttpUrl(l && l.url), text: l && typeof l.text === "string" ? l.text.trim() : "" }))
      .filter((l) => l.url);
    if (!codes.length && !links.length) return;
    replace(this.extractSlot, h("section", { class: "extract", "aria-label": "Codes and links" },
      codes.length ? h("div", { class: "codes" }, codes.map((c) => h("div", { class: "code-card" },
        h("div", { class: "code-main" },
          h("span", { class: "code-label", title: c.context ? truncate(c.context, 300) : null }, icon("key", { size: 14 }), "Verification code"),
          h("span", { class: "code-value", text: c.value }),
        ),
        copyButton(c.value, `Copy code ${c.value}`, { withLabel: true, toastText: "Code copied", cls: "btn-primary" }),
      ))) : null,
      links.length ? h("details", { class: "links-box", open: !codes.length && links.length <= 4 },
        h("summary", null, icon("link", { size: 15 }), h("span", { text: plural(links.length, "link") })),
        h("ul", { class: "links" }, links.map((l) => h("li", { class: "link-row" },
          h("a", { class: "link-open", href: l.url, target: "_blank", rel: "noopener noreferrer", title: l.url },
            h("span", { class: "link-text", text: linkTitle(l) || prettyUrl(l.url) }),
            linkTitle(l) ? h("span", { class: "link-url", text: prettyUrl(l.url) }) : null,
          ),
          copyButton(l.url, "Copy link", { toastText: "Link copied" }),
          h("a", { class: "btn btn-icon", href: l.url, target: "_blank", rel: "noopener noreferrer", title: "Open in a new tab", "aria-label": "Open in a new tab" }, icon("external")),
        ))),
      ) : null,
    ));
  }
}

function truncate(text, max) {
  const clean = String(text).replace(/\s+/g, " ").trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** The link's own words, unless they only repeat the URL. */
function linkTitle(link) {
  const text = link.text.replace(/\s+/g, " ").trim();
  if (!text) return "";
  const bare = (value) => value.replace(/^https?:\/\//i, "").replace(/\/$/, "").toLowerCase();
  return bare(link.url).startsWith(bare(text)) ? "" : truncate(text, 120);
}

function prettyUrl(url) {
  try {
    const u = new URL(url);
    return truncate(`${u.host}${u.pathname === "/" ? "" : u.pathname}${u.search}`, 90);
  } catch {
    return url;
  }
}

/** Text with its http(s) URLs turned into links (built as DOM nodes, never as HTML). */
export function linkify(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    let raw = match[0];
    const trailing = raw.match(TRAILING_PUNCTUATION);
    if (trailing) raw = raw.slice(0, raw.length - trailing[0].length);
    const url = safeHttpUrl(raw);
    if (!url) continue;
    nodes.push(text.slice(last, match.index));
    nodes.push(h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: raw }));
    last = match.index + raw.length;
  }
  nodes.push(text.slice(last));
  return nodes;
}

