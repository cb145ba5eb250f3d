// Toasts, confirmation dialogs, the keyboard help overlay and the clipboard.
import { h } from "./dom.js";
import { icon } from "./icons.js";

const MAX_TOASTS = 4;
let toastHost = null;

function host() {
  if (!toastHost) {
    toastHost = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastHost);
  }
  return toastHost;
}

/** Show a short message; `kind` is info, success or error; `action` is {label, run}. */
export function toast(message, { kind = "info", timeout = 3800, action = null } = {}) {
  const container = host();
  const symbol = { success: "check", error: "alert", info: "info" }[kind] || "info";
  const el = h("div", { class: ["toast", `toast-${kind}`], dataset: { kind } },
    icon(symbol, { size: 18, cls: "toast-icon" }),
    h("span", { class: "toast-text", text: message }),
  );
  let timer = null;
  const dismiss = () => {
    clearTimeout(timer);
    el.classList.remove("show");
    setTimeout(() => el.remove(), 250);
  };
  if (action) {
    el.append(h("button", { type: "button", class: "toast-action", text: action.label, onclick: () => { dismiss(); action.run(); } }));
  }
  el.append(h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: dismiss }, icon("x", { size: 16 })));
  container.append(el);
  while (container.children.length > MAX_TOASTS) container.firstElementChild.remove();
  requestAnimationFrame(() => el.classList.add("show"));
  timer = setTimeout(dismiss, timeout);
  el.addEventListener("mouseenter", () => clearTimeout(timer));
  el.addEventListener("mouseleave", () => { timer = setTimeout(dismiss, 1500); });
  return dismiss;
}

/** A modal question; resolves true when confirmed. */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const confirm = h("button", { type: "submit", value: "yes", class: ["btn", danger ? "btn-danger" : "btn-primary"], text: confirmLabel });
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
      h("form", { method: "dialog", class: "dialog-body" },
        h("div", { class: ["dialog-icon", danger && "danger"] }, icon(danger ? "trash" : "help", { size: 22 })),
        h("h2", { id: "dialog-title", class: "dialog-title", text: title }),
        h("p", { class: "dialog-text", text: message }),
        h("div", { class: "dialog-actions" },
          h("button", { type: "submit", value: "no", class: "btn", text: "Cancel" }),
          confirm,
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    confirm.focus();
  });
}

const SHORTCUTS = [
  ["Navigation", [
    [["j", "↓"], "Next message"],
    [["k", "↑"], "Previous message"],
    [["Enter", "o"], "Open message"],
    [["Esc"], "Close message / leave a field"],
    [["/"], "Search"],
    [["f"], "Switch folder"],
  ]],
  ["Actions", [
    [["r"], "Mark read / unread"],
    [["Delete", "#"], "Delete message"],
    [["c"], "Copy the address"],
    [["g"], "Generate a new address"],
    [["t"], "Switch light / dark theme"],
    [["?"], "This help"],
  ]],
];

const SEARCH_SYNTAX = [
  ["from:alice", "sender contains"],
  ["to: cc: subject:", "other fields (quote values with spaces)"],
  ['"exact phrase"', "words in this order"],
  ["has:attachment", "with attachments"],
  ["is:unread  is:read", "by read state"],
  ["after:2026-01-31  before:", "arrival date (UTC)"],
  ["larger:2M  smaller:10K", "by size"],
  ["-word  -from:bot", "leave out matches"],
];

let helpDialog = null;

/** The keyboard shortcut overlay (toggles). */
export function toggleHelp() {
  if (helpDialog && helpDialog.open) {
    helpDialog.close();
    return;
  }
  if (!helpDialog) {
    helpDialog = h("dialog", { class: "dialog help-dialog", tabindex: "-1", "aria-labelledby": "help-title", dataset: { help: "" } },
      h("div", { class: "help-head" },
        h("h2", { id: "help-title", class: "dialog-title" }, icon("keyboard", { size: 20 }), " Keyboard shortcuts"),
        h("button", { type: "button", class: "btn btn-icon", "aria-label": "Close", onclick: () => helpDialog.close() }, icon("close")),
      ),
      h("div", { class: "help-grid" },
        SHORTCUTS.map(([group, rows]) => h("section", { class: "help-group" },
          h("h3", { text: group }),
          h("dl", null, rows.map(([keys, what]) => [
            h("dt", null, keys.map((k, i) => [i ? h("span", { class: "or", text: "or" }) : null, h("kbd", { text: k })])),
            h("dd", { text: what }),
          ])),
        )),
        h("section", { class: "help-group help-search" },
          h("h3", { text: "Search" }),
          h("dl", null, SEARCH_SYNTAX.map(([example, what]) => [
            h("dt", null, h("code", { text: example })),
            h("dd", { text: what }),
          ])),
        ),
      ),
    );
    helpDialog.addEventListener("click", (e) => { if (e.target === helpDialog) helpDialog.close(); });
    helpDialog.addEventListener("keydown", (e) => { if (e.key === "?") { e.preventDefault(); helpDialog.close(); } });
    document.body.append(helpDialog);
  }
  helpDialog.showModal();
  helpDialog.focus();
}

/** Copy text; works on plain-http deployments too, where navigator.clipboard is missing. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection-based copy
  }
  const area = h("textarea", { class: "copy-buffer", readonly: true, "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** A copy button that flashes a check mark when done. */
export function copyButton(text, label, { cls = "", toastText = null, withLabel = false } = {}) {
  const button = h("button", { type: "button", class: ["btn", withLabel ? "" : "btn-icon", "copy-btn", cls], title: label, "aria-label": label },
    icon("copy"),
    withLabel ? h("span", { class: "btn-label", text: typeof withLabel === "string" ? withLabel : "Copy" }) : null,
  );
  button.addEventListener("click", async (e) => {
    e.preventDefault();
    e.stopPropagation();
    const ok = await copyText(typeof text === "function" ? text() : text);
    if (!ok) {
      toast("Couldn't copy: your browser blocked the clipboard.", { kind: "error" });
      return;
    }
    button.classList.add("copied");
    button.replaceChild(icon("check"), button.firstChild);
    if (toastText) toast(toastText, { kind: "success", timeout: 2000 });
    setTimeout(() => {
      button.classList.remove("copied");
      button.replaceChild(icon("copy"), button.firstChild);
    }, 1500);
  });
  return button;
}
