// The folder switcher of the inbox view: the mailbox's IMAP folders (INBOX plus those an
// IMAP client created) as a compact disclosure menu of links, with unread counts.
//
// The menu follows the disclosure-navigation pattern: a button with aria-expanded that shows
// a list of ordinary links (the router turns them into in-app navigation). Arrow keys, Home
// and End move between the links; Escape closes the menu and gives the focus back.
import { INBOX } from "./api.js";
import { h, replace } from "./dom.js";
import { icon } from "./icons.js";

const SEPARATOR = "/";

// RFC 6154 special-use attributes: the icon and the word that says what the folder is for.
const SPECIAL_USE = {
  "\\Sent": ["send", "sent mail"],
  "\\Drafts": ["draft", "drafts"],
  "\\Trash": ["trash", "deleted mail"],
  "\\Junk": ["junk", "junk mail"],
  "\\Archive": ["archive", "archived mail"],
  "\\All": ["mail", "all mail"],
  "\\Flagged": ["sparkles", "flagged mail"],
};

/** The name people read: "Inbox" for INBOX, else the last level of the path. */
export function folderLabel(name) {
  if (name === INBOX) return "Inbox";
  const parts = name.split(SEPARATOR).filter(Boolean);
  return parts.length ? parts[parts.length - 1] : name;
}

/** The icon for a folder: the inbox, a special-use one, or a plain folder. */
export function folderIconName(name, specialUse = null) {
  if (name === INBOX) return "inbox";
  const known = specialUse ? SPECIAL_USE[specialUse] : null;
  return known ? known[0] : "folder";
}

function purposeOf(specialUse) {
  const known = specialUse ? SPECIAL_USE[specialUse] : null;
  return known ? known[1] : null;
}

function depthOf(name) {
  return name === INBOX ? 0 : Math.max(0, name.split(SEPARATOR).filter(Boolean).length - 1);
}

/** INBOX first, then the others as a tree: each parent right before its children. */
function treeOrder(a, b) {
  if (a.name === INBOX) return -1;
  if (b.name === INBOX) return 1;
  const x = a.name.split(SEPARATOR);
  const y = b.name.split(SEPARATOR);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const order = x[i].localeCompare(y[i], undefined, { sensitivity: "base" }) || (x[i] < y[i] ? -1 : x[i] > y[i] ? 1 : 0);
    if (order) return order;
  }
  return x.length - y.length;
}

function countText(count) {
  return count > 999 ? "999+" : count.toLocaleString();
}

let menuIds = 0;

export class FolderSwitcher {
  /**
   * @param {{hrefFor: (name: string) => string}} options `hrefFor` gives a folder's app URL
   */
  constructor({ hrefFor }) {
    this.hrefFor = hrefFor;
    this.folders = [];
    this.current = INBOX;
    this.repainting = false;
    this.shape = null;
    menuIds += 1;
    const menuId = `folder-menu-${menuIds}`;
    this.button = h("button", {
      type: "button",
      class: "folder-button",
      "aria-expanded": "false",
      "aria-controls": menuId,
      title: "Switch folder (f)",
      dataset: { action: "folders" },
      onclick: () => this.toggle(),
    });
    this.list = h("ul", { class: "folder-list" });
    this.menu = h("nav", { id: menuId, class: "folder-menu", "aria-label": "Folders", hidden: true }, this.list);
    this.el = h("div", { class: "folder-bar", hidden: true }, this.button, this.menu);

    this.button.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        this.open({ focus: e.key === "ArrowDown" ? "current" : "last" });
      }
    });
    this.menu.addEventListener("keydown", (e) => this.onMenuKey(e));
    this.menu.addEventListener("click", (e) => {
      // The document's router handles the navigation; the menu only has to close.
      if (e.target instanceof Element && e.target.closest("a")) this.close();
    });
    this.el.addEventListener("focusout", (e) => {
      if (!this.isOpen() || this.repainting) return;
      if (!(e.relatedTarget instanceof Node) || !this.el.contains(e.relatedTarget)) this.close();
    });
    this.onOutsidePointer = (e) => {
      if (e.target instanceof Node && !this.el.contains(e.target)) this.close();
    };
    this.paint();
  }

  /** Show `folders` (the API's list) with `current` chosen; hidden while INBOX is all. */
  update(folders, current) {
    this.folders = [...folders].filter((f) => f && typeof f.name === "string").sort(treeOrder);
    this.current = current;
    this.paint();
  }

  setCurrent(current) {
    if (current === this.current) return;
    this.current = current;
    this.paint();
  }

  /** Shown when there is somewhere else to go (or we are not in INBOX, to get back). */
  get visible() {
    return this.folders.length > 1 || this.current !== INBOX;
  }

  paint() {
    const visible = this.visible;
    this.el.hidden = !visible;
    if (!visible) this.close();
    const chosen = this.folders.find((f) => f.name === this.current) || { name: this.current, special_use: null, unread: 0, total: 0 };
    const unread = Number.isFinite(chosen.unread) ? chosen.unread : 0;
    this.button.setAttribute("aria-label", `Folder: ${chosen.name === INBOX ? "Inbox" : chosen.name}${unread ? `, ${unread} unread` : ""}. Switch folder`);
    replace(this.button,
      icon(folderIconName(chosen.name, chosen.special_use), { size: 16, cls: "folder-icon" }),
      h("span", { class: "folder-button-name", text: folderLabel(chosen.name) }),
      unread ? h("span", { class: "folder-count", text: countText(unread) }) : null,
      icon("down", { size: 14, cls: "folder-chevron" }),
    );
    const names = new Set(this.folders.map((f) => f.name));
    const rows = [...this.folders];
    if (!names.has(this.current)) rows.push(chosen); // an unknown folder from the URL stays reachable
    // Unchanged folders and counts: leave the menu's nodes (and a screen reader) alone.
    const shape = JSON.stringify([this.current, rows.map((f) => [f.name, f.special_use, f.unread, f.total, this.hrefFor(f.name)])]);
    if (shape === this.shape) return;
    this.shape = shape;
    // New counts may arrive while someone walks the open menu: keep their place.
    const active = document.activeElement;
    const focused = active instanceof HTMLElement && this.list.contains(active) ? active.dataset.folder : null;
    this.repainting = true;
    try {
      replace(this.list, rows.map((f) => this.item(f)));
    } finally {
      this.repainting = false;
    }
    if (focused != null) {
      const again = this.links().find((a) => a.dataset.folder === focused);
      if (again) again.focus();
    }
  }

  item(folder) {
    const unread = Number.isFinite(folder.unread) ? folder.unread : 0;
    const total = Number.isFinite(folder.total) ? folder.total : 0;
    const purpose = purposeOf(folder.special_use);
    const current = folder.name === this.current;
    const spoken = [folder.name === INBOX ? "Inbox" : folder.name, purpose, unread ? `${unread} unread` : null].filter(Boolean).join(", ");
    return h("li", null,
      h("a", {
        class: ["folder-item", current && "current", unread > 0 && "has-unread"],
        href: this.hrefFor(folder.name),
        title: `${folder.name === INBOX ? "Inbox" : folder.name}${purpose ? ` (${purpose})` : ""}: ${total.toLocaleString()} ${total === 1 ? "message" : "messages"}`,
        "aria-label": spoken,
        "aria-current": current ? "page" : null,
        dataset: { link: "", folder: folder.name, specialUse: folder.special_use || null, depth: depthOf(folder.name) },
        vars: { "--folder-depth": String(depthOf(folder.name)) },
      },
        icon(folderIconName(folder.name, folder.special_use), { size: 16, cls: "folder-icon" }),
        h("span", { class: "folder-name", text: folderLabel(folder.name) }),
        unread ? h("span", { class: "folder-count", text: countText(unread) }) : null,
      ),
    );
  }

  isOpen() {
    return !this.menu.hidden;
  }

  links() {
    return [...this.list.querySelectorAll("a.folder-item")];
  }

  /** Open the menu; `focus` is "current", "first", "last" or null (leave the focus). */
  open({ focus = "current" } = {}) {
    if (!this.visible) return false;
    if (!this.isOpen()) {
      this.menu.hidden = false;
      this.button.setAttribute("aria-expanded", "true");
      document.addEventListener("pointerdown", this.onOutsidePointer, true);
    }
    const links = this.links();
    const target = focus === "first" ? links[0]
      : focus === "last" ? links[links.length - 1]
      : focus === "current" ? links.find((a) => a.classList.contains("current")) || links[0]
      : null;
    if (target) {
      target.focus();
      target.scrollIntoView({ block: "nearest" });
    }
    return true;
  }

  close({ returnFocus = false } = {}) {
    if (!this.isOpen()) return;
    this.menu.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", this.onOutsidePointer, true);
    if (returnFocus) this.button.focus();
  }

  toggle() {
    if (this.isOpen()) this.close();
    else this.open({ focus: "current" });
  }

  onMenuKey(e) {
    const links = this.links();
    const index = links.indexOf(document.activeElement);
    let next = null;
    switch (e.key) {
      case "ArrowDown":
        next = links[index < 0 ? 0 : Math.min(links.length - 1, index + 1)];
        break;
      case "ArrowUp":
        next = links[index < 0 ? links.length - 1 : Math.max(0, index - 1)];
        break;
      case "Home":
        next = links[0];
        break;
      case "End":
        next = links[links.length - 1];
        break;
      case "Escape":
        e.preventDefault();
        this.close({ returnFocus: true });
        return;
      default:
        return;
    }
    e.preventDefault();
    if (next) next.focus();
  }

  destroy() {
    this.close();
  }
}
