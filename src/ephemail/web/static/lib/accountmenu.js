// The account corner of the top bar: "Sign in" for visitors; for a signed-in account its email
// and a menu (Your mailboxes, Tokens, Admin for admins, Sign out), usable with the keyboard
// (arrows, Home, End, Escape) as the WAI-ARIA menu button pattern describes.
import { urls } from "./api.js";
import { h, replace } from "./dom.js";
import { icon } from "./icons.js";
import { session } from "./session.js";
import { avatar } from "./widgets.js";

/** The sign-in page, returning to where the visitor is now (unless that is a sign-in page). */
function signInHref() {
  const here = `${window.location.pathname}${window.location.search}`;
  const pointless = here === "/" || here.startsWith("/signin") || here.startsWith("/register");
  return urls.signIn(pointless ? null : here);
}

export class AccountMenu {
  /** @param {{navigate: (url: string) => void, signOut: () => Promise<void>}} actions */
  constructor(actions) {
    this.actions = actions;
    this.el = h("div", { class: "account", dataset: { account: "" } });
    this.button = null;
    this.menu = null;
    this.onOutsidePointer = (e) => {
      if (e.target instanceof Node && !this.el.contains(e.target)) this.close();
    };
    this.el.addEventListener("focusout", (e) => {
      if (this.isOpen() && !(e.relatedTarget instanceof Node && this.el.contains(e.relatedTarget))) this.close();
    });
    session.subscribe(() => this.paint());
    this.paint();
  }

  paint() {
    this.close();
    if (!session.known || !session.supported) {
      replace(this.el);
      return;
    }
    if (!session.signedIn) {
      const link = h("a", { class: "btn btn-ghost signin-link", href: signInHref(), dataset: { link: "", action: "sign-in" } },
        icon("user"),
        h("span", { class: "btn-label", text: "Sign in" }),
      );
      // Brings the visitor back to the page they are on when they click (the app's router
      // reads the href after this listener ran).
      link.addEventListener("click", () => {
        link.href = signInHref();
      });
      replace(this.el, link);
      return;
    }
    const account = session.account;
    this.button = h("button", {
      type: "button",
      class: "account-button",
      "aria-haspopup": "menu",
      "aria-expanded": "false",
      "aria-controls": "account-menu",
      title: account.email,
      dataset: { action: "account" },
    },
      avatar(account.email, account.email, { size: "sm" }),
      h("span", { class: "account-email", dataset: { accountEmail: "" }, text: account.email }),
      icon("down", { size: 14, cls: "account-chevron" }),
    );
    const items = [
      this.item(urls.mailboxes(), "inbox", "Your mailboxes", "mailboxes"),
      this.item(urls.tokens(), "key", "Tokens", "tokens"),
      session.isAdmin ? this.item(urls.admin(), "shield", "Admin", "admin") : null,
      h("div", { class: "menu-separator", role: "separator" }),
      h("button", { type: "button", class: "menu-item", role: "menuitem", tabindex: "-1", dataset: { menu: "sign-out" }, onclick: () => this.signOut() },
        icon("logout", { size: 16 }),
        h("span", { text: "Sign out" }),
      ),
    ];
    this.menu = h("div", { id: "account-menu", class: "account-menu", role: "menu", "aria-label": "Account", hidden: true },
      h("div", { class: "menu-head", role: "presentation" },
        h("span", { class: "menu-head-label", text: account.role === "admin" ? "Signed in · admin" : "Signed in" }),
        h("span", { class: "menu-head-email", text: account.email }),
      ),
      items,
    );
    this.button.addEventListener("click", () => (this.isOpen() ? this.close() : this.open("first")));
    this.button.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        this.open(e.key === "ArrowDown" ? "first" : "last");
      }
    });
    this.menu.addEventListener("keydown", (e) => this.onMenuKey(e));
    this.menu.addEventListener("click", (e) => {
      if (e.target instanceof Element && e.target.closest("a")) this.close();
    });
    replace(this.el, this.button, this.menu);
  }

  item(href, iconName, label, name) {
    return h("a", { class: "menu-item", role: "menuitem", tabindex: "-1", href, dataset: { link: "", menu: name } },
      icon(iconName, { size: 16 }),
      h("span", { text: label }),
    );
  }

  items() {
    return this.menu ? [...this.menu.querySelectorAll(".menu-item")] : [];
  }

  isOpen() {
    return Boolean(this.menu && !this.menu.hidden);
  }

  open(focus = "first") {
    if (!this.menu) return;
    this.menu.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    document.addEventListener("pointerdown", this.onOutsidePointer, true);
    const items = this.items();
    const target = focus === "last" ? items[items.length - 1] : items[0];
    if (target) target.focus();
  }

  close({ returnFocus = false } = {}) {
    document.removeEventListener("pointerdown", this.onOutsidePointer, true);
    if (!this.isOpen()) return;
    this.menu.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (returnFocus) this.button.focus();
  }

  onMenuKey(e) {
    const items = this.items();
    const index = items.indexOf(document.activeElement);
    let next = null;
    switch (e.key) {
      case "ArrowDown":
        next = items[(index + 1) % items.length];
        break;
      case "ArrowUp":
        next = items[(index - 1 + items.length) % items.length];
        break;
      case "Home":
        next = items[0];
        break;
      case "End":
        next = items[items.length - 1];
        break;
      case "Escape":
        e.preventDefault();
        e.stopPropagation();
        this.close({ returnFocus: true });
        return;
      case "Tab":
        this.close();
        return;
      default:
        // Letters must not reach the app's shortcuts while the menu is open.
        if (e.key.length === 1) e.stopPropagation();
        return;
    }
    e.preventDefault();
    e.stopPropagation();
    if (next) next.focus();
  }

  async signOut() {
    this.close();
    await this.actions.signOut();
  }
}
