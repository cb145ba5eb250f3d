// Sign in and Register: one card each, email and password, and the server's answer in words.
import { ApiError, urls } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";
import { busy, field, FormError, input } from "../lib/forms.js";
import { icon } from "../lib/icons.js";
import { session } from "../lib/session.js";
import { toast } from "../lib/ui.js";

const MIN_PASSWORD = 8;

/** Only a path of this app may be a place to return to (never another origin). */
export function safeNext(raw) {
  if (typeof raw !== "string" || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) return null;
  if (raw.startsWith("/signin") || raw.startsWith("/register")) return null;
  return raw;
}

class AuthView {
  constructor(root, ctx, { next = null } = {}) {
    this.root = root;
    this.ctx = ctx;
    this.next = safeNext(next);
    this.error = new FormError();
    this.email = input({ type: "email", name: "email", autocomplete: "username", inputmode: "email", autocapitalize: "none", required: true, maxlength: 320 });
    this.password = input({ type: "password", name: "password", autocomplete: this.passwordAutocomplete, required: true, maxlength: 1024 });
    this.submitButton = h("button", { type: "submit", class: "btn btn-primary btn-lg auth-submit" }, h("span", { class: "btn-label", text: this.submitLabel }));
    this.form = h("form", { class: "auth-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); this.submit(); } });
    this.build();
    ctx.setTitle(this.title);
    this.unsubscribe = session.subscribe(() => this.onSession());
    this.onSession();
  }

  build() {
    for (const el of [this.email, this.password, ...this.extraInputs()]) el.addEventListener("input", () => this.error.clear());
    replace(this.form,
      field("Email", this.email),
      field("Password", this.password, { hint: this.passwordHint }),
      this.extraFields(),
      this.error.el,
      this.submitButton,
    );
    replace(this.root, h("div", { class: "auth" },
      h("section", { class: "auth-card", "aria-labelledby": "auth-title" },
        h("div", { class: "auth-icon" }, icon(this.iconName, { size: 24 })),
        h("h1", { id: "auth-title", class: "auth-title", text: this.title }),
        h("p", { class: "auth-text", text: this.text }),
        this.form,
        h("p", { class: "auth-switch" }, this.switchText()),
      ),
    ));
    requestAnimationFrame(() => this.email.focus({ preventScroll: true }));
  }

  extraInputs() {
    return [];
  }

  extraFields() {
    return null;
  }

  /** Someone already signed in has nothing to do here: go on. */
  onSession() {
    if (session.known && session.signedIn && !this.submitting) this.ctx.navigate(this.next || urls.mailboxes(), { replace: true });
  }

  /** Checks the browser can do without the server; returns an error sentence or null. */
  check() {
    const email = this.email.value.trim();
    if (!email || !email.includes("@")) {
      this.email.focus();
      return "Enter your email address.";
    }
    if (!this.password.value) {
      this.password.focus();
      return "Enter your password.";
    }
    return null;
  }

  async submit() {
    this.error.clear();
    const problem = this.check();
    if (problem) {
      this.error.show(problem);
      return;
    }
    this.submitting = true;
    try {
      await busy(this.submitButton, () => this.send(this.email.value.trim(), this.password.value), this.busyLabel);
    } catch (err) {
      this.submitting = false;
      this.error.show(err, this.messages);
      if (err instanceof ApiError && (err.code === "invalid_credentials" || err.code === "invalid_password")) {
        this.password.select();
        this.password.focus();
      }
      return;
    }
    this.submitting = false;
    toast(this.welcome(session.account), { kind: "success" });
    this.ctx.navigate(this.next || urls.mailboxes(), { replace: true });
  }

  show(target) {
    this.next = safeNext(target.next);
  }

  handleKey() {
    return false;
  }

  unmount() {
    this.unsubscribe();
  }
}

export class SignInView extends AuthView {
  get title() {
    return "Sign in";
  }

  get text() {
    return "Your own mailboxes, API and IMAP tokens. Public inboxes need no account.";
  }

  get iconName() {
    return "user";
  }

  get submitLabel() {
    return "Sign in";
  }

  get busyLabel() {
    return "Signing in…";
  }

  get passwordAutocomplete() {
    return "current-password";
  }

  get passwordHint() {
    return null;
  }

  get messages() {
    return {
      invalid_credentials: "Wrong email or password.",
      401: "Wrong email or password.",
    };
  }

  switchText() {
    return ["No account yet? ", h("a", { href: urls.register(this.next), dataset: { link: "" }, text: "Create one" })];
  }

  send(email, password) {
    return session.signIn(email, password);
  }

  welcome(account) {
    return `Signed in as ${account ? account.email : "you"}`;
  }
}

export class RegisterView extends AuthView {
  extraInputs() {
    this.again = this.again || input({ type: "password", name: "password-again", autocomplete: "new-password", required: true, maxlength: 1024 });
    return [this.again];
  }

  extraFields() {
    return field("Repeat the password", this.again);
  }

  get title() {
    return "Create an account";
  }

  get text() {
    return "Keep mailboxes of your own, private to you, and get tokens for programs and IMAP clients.";
  }

  get iconName() {
    return "sparkles";
  }

  get submitLabel() {
    return "Create account";
  }

  get busyLabel() {
    return "Creating…";
  }

  get passwordAutocomplete() {
    return "new-password";
  }

  get passwordHint() {
    return `At least ${MIN_PASSWORD} characters.`;
  }

  get messages() {
    return {
      registration_closed: "Registration is closed on this server. Ask its administrator for an account.",
      conflict: "An account with this email exists already. Sign in instead.",
      409: "An account with this email exists already. Sign in instead.",
    };
  }

  check() {
    const problem = super.check();
    if (problem) return problem;
    if (this.password.value.length < MIN_PASSWORD) {
      this.password.focus();
      return `The password needs at least ${MIN_PASSWORD} characters.`;
    }
    if (this.again.value !== this.password.value) {
      this.again.focus();
      return "The two passwords differ.";
    }
    return null;
  }

  switchText() {
    return ["Have an account? ", h("a", { href: urls.signIn(this.next), dataset: { link: "" }, text: "Sign in" })];
  }

  send(email, password) {
    return session.register(email, password);
  }

  welcome(account) {
    return `Welcome, ${account ? account.email : "and hello"}`;
  }
}
