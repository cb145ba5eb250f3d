// The start page: open an address, generate one, or go back to a recent one.
import { api, describeError, urls } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { prefs } from "../lib/prefs.js";
import { copyButton, toast } from "../lib/ui.js";
import { kbd } from "../lib/widgets.js";

const LOCAL_OR_ADDRESS = /^[^\s@<>"]+(@[^\s@<>"]+)?$/;

const FEATURES = [
  ["bolt", "Live", "New mail appears instantly, no refresh."],
  ["key", "Codes & links", "One-time codes and links, ready to copy."],
  ["shield", "Private by default", "HTML is sandboxed and remote images are blocked."],
  ["keyboard", "Keyboard first", () => ["Press ", kbd("?"), " to see every shortcut."]],
];

export class HomeView {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.domains = [];
    this.build();
    ctx.setTitle(null);
    if (ctx.caps.domains) this.loadDomains();
  }

  build() {
    this.input = h("input", {
      id: "address-input",
      class: "address-input",
      type: "text",
      inputmode: "email",
      autocomplete: "off",
      autocapitalize: "none",
      spellcheck: "false",
      placeholder: "name or name@domain",
      "aria-label": "Address or name",
      "aria-describedby": "address-error",
      required: true,
    });
    this.at = h("span", { class: "at", text: "@", hidden: true });
    this.domainSelect = h("select", { class: "domain-select", "aria-label": "Domain", hidden: true });
    this.domainSelect.addEventListener("change", () => prefs.setDomain(this.domainSelect.value));
    this.input.addEventListener("input", () => {
      this.error.hidden = true;
      this.updateDomainVisibility();
    });
    this.error = h("p", { id: "address-error", class: "field-error", role: "alert", hidden: true });
    this.generateButton = h("button", { type: "button", class: "btn btn-lg btn-ghost generate", dataset: { action: "generate" }, onclick: () => this.generate() },
      icon("sparkles"),
      h("span", { text: "Generate a random address" }),
    );
    const form = h("form", { class: "address-form", onsubmit: (e) => { e.preventDefault(); this.open(); } },
      h("label", { class: "address-field" },
        icon("mail", { cls: "field-icon" }),
        this.input,
        this.at,
        this.domainSelect,
      ),
      h("button", { type: "submit", class: "btn btn-primary btn-lg" }, h("span", { text: "Open inbox" }), icon("arrow")),
    );
    this.recentBox = h("section", { class: "recent", "aria-label": "Recent addresses" });
    replace(this.root, h("div", { class: "home" },
      h("section", { class: "hero" },
        h("img", { class: "hero-logo", src: document.querySelector(".brand-logo").getAttribute("src"), alt: "", width: 64, height: 64 }),
        h("h1", { class: "hero-title", text: "Disposable inboxes, instantly" }),
        h("p", { class: "hero-text", text: "Pick any address and watch mail arrive live. No sign-up, no tracking pixels, nothing to install." }),
        h("div", { class: "hero-card" },
          form,
          this.error,
          h("div", { class: "or-row" }, h("span", { text: "or" })),
          this.generateButton,
        ),
        this.recentBox,
      ),
      h("ul", { class: "features" }, FEATURES.map(([iconName, title, text]) => h("li", { class: "feature" },
        h("span", { class: "feature-icon" }, icon(iconName, { size: 20 })),
        h("span", { class: "feature-text" }, h("strong", { text: title }), h("span", null, typeof text === "function" ? text() : text)),
      ))),
    ));
    this.renderRecent();
    requestAnimationFrame(() => this.input.focus({ preventScroll: true }));
  }

  async loadDomains() {
    this.domains = await api.domainList();
    if (!this.domains.length) return;
    const remembered = prefs.domain();
    const preferred = this.domains.find((d) => d.name === remembered) || this.domains.find((d) => d.default) || this.domains[0];
    replace(this.domainSelect, this.domains.map((d) => h("option", { value: d.name, text: d.name, selected: d === preferred })));
    this.domainSelect.value = preferred.name;
    this.updateDomainVisibility();
  }

  updateDomainVisibility() {
    const show = this.domains.length > 0 && !this.input.value.includes("@");
    this.at.hidden = !show;
    this.domainSelect.hidden = !show;
    this.input.placeholder = this.domains.length ? "your-name" : "name or name@domain";
  }

  chosenDomain() {
    return this.domains.length && !this.domainSelect.hidden ? this.domainSelect.value : null;
  }

  open() {
    const value = this.input.value.trim().toLowerCase();
    if (!value || !LOCAL_OR_ADDRESS.test(value)) {
      this.error.textContent = value ? "That doesn't look like an address. Use letters, digits, dots or dashes." : "Type a name, or generate one.";
      this.error.hidden = false;
      this.input.focus();
      return;
    }
    const domain = value.includes("@") ? null : this.chosenDomain();
    this.ctx.navigate(urls.inbox(domain ? `${value}@${domain}` : value));
  }

  async generate() {
    this.generateButton.disabled = true;
    try {
      await this.ctx.generate(this.chosenDomain());
    } catch (err) {
      toast(describeError(err, "Creating addresses"), { kind: "error" });
    } finally {
      this.generateButton.disabled = false;
    }
  }

  renderRecent() {
    const recent = prefs.recent();
    if (!recent.length) {
      replace(this.recentBox);
      return;
    }
    replace(this.recentBox,
      h("h2", { class: "section-title", text: "Recent" }),
      h("ul", { class: "recent-list" }, recent.map((address) => h("li", { class: "recent-item" },
        h("a", { class: "recent-link", href: urls.inbox(address), dataset: { link: "" } },
          icon("inbox", { size: 16 }),
          h("span", { class: "recent-address", text: address }),
        ),
        copyButton(address, `Copy ${address}`, { cls: "btn-small", toastText: "Address copied" }),
        h("button", {
          type: "button",
          class: "btn btn-icon btn-small",
          title: `Forget ${address}`,
          "aria-label": `Forget ${address}`,
          onclick: () => {
            prefs.forget(address);
            this.renderRecent();
          },
        }, icon("x", { size: 14 })),
      ))),
    );
  }

  show() {}

  handleKey() {
    return false;
  }

  unmount() {}
}
