// Form pieces shared by the account, admin and inbox views: labelled fields, an inline error
// that reads the server's JSON error, busy buttons, and a password dialog.
import { ApiError, describeError, retryText } from "./api.js";
import { h, replace } from "./dom.js";
import { icon } from "./icons.js";

let fieldIds = 0;

/** A labelled form control; `control` is an <input>, <select> or <textarea>. */
export function field(label, control, { hint = null, cls = "" } = {}) {
  fieldIds += 1;
  if (!control.id) control.id = `field-${fieldIds}`;
  const hintEl = hint ? h("span", { class: "field-hint", id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: ["field", cls] },
    h("label", { class: "field-label", for: control.id, text: label }),
    control,
    hintEl,
  );
}

/** A text-like <input> in the app's style. */
export function input(props = {}) {
  return h("input", { class: "input", type: "text", autocomplete: "off", spellcheck: "false", ...props });
}

/** A <select> of [value, label] pairs. */
export function select(options, props = {}) {
  const { value = null, ...rest } = props;
  const el = h("select", { class: "input select", ...rest },
    options.map(([optionValue, label]) => h("option", { value: optionValue, text: label, selected: optionValue === value })),
  );
  if (value != null) el.value = value;
  return el;
}

/** A labelled checkbox. */
export function checkbox(label, props = {}) {
  const box = h("input", { type: "checkbox", class: "checkbox", ...props });
  return { box, el: h("label", { class: "check" }, box, h("span", { text: label })) };
}

/** The box under a form that explains what went wrong (hidden while there is nothing). */
export class FormError {
  constructor() {
    this.el = h("p", { class: "form-error", role: "alert", hidden: true });
  }

  /** Show a sentence, or the sentence for an error thrown by the API module. */
  show(errOrText, messages = {}) {
    const text = typeof errOrText === "string" ? errOrText : explain(errOrText, messages);
    replace(this.el, icon("alert", { size: 16 }), h("span", { text }));
    this.el.hidden = false;
  }

  clear() {
    this.el.hidden = true;
    replace(this.el);
  }
}

/**
 * A sentence for an API error on a form: `messages` maps an error code (or an HTTP status)
 * to the text to show; otherwise the server's own message, else a generic one.
 */
export function explain(err, messages = {}) {
  if (!(err instanceof ApiError)) return describeError(err);
  if (err.status === 429) return retryText(err);
  const special = messages[err.code] || messages[err.status];
  if (special) return typeof special === "function" ? special(err) : special;
  if (err.status === 0 || err.status >= 500 || err.missingRoute || err.status === 401 || err.status === 403) return describeError(err);
  return sentence(err.message) || describeError(err);
}

/** The server's messages are lowercase fragments ("wrong email or password"): make a sentence. */
export function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** Disable `button` (with a busy label) while `work` runs; returns what `work` returns. */
export async function busy(button, work, busyLabel = null) {
  const label = button.querySelector(".btn-label");
  const before = label ? label.textContent : null;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (label && busyLabel) label.textContent = busyLabel;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (label && busyLabel) label.textContent = before;
  }
}

/**
 * A modal asking for a password (claim, release, unlock). `submit(password)` does the work:
 * it throws to keep the dialog open with the error shown, or returns to close it. Resolves
 * true when it succeeded, false when cancelled.
 */
export function passwordDialog({ title, text, confirmLabel, repeat = false, minLength = 0, messages = {}, submit, iconName = "lock", danger = false }) {
  return new Promise((resolve) => {
    const password = h("input", { class: "input", type: "password", name: "password", autocomplete: repeat ? "new-password" : "current-password", required: true });
    const again = repeat ? h("input", { class: "input", type: "password", name: "password-again", autocomplete: "new-password", required: true }) : null;
    if (minLength) password.minLength = minLength;
    const error = new FormError();
    const confirm = h("button", { type: "submit", class: ["btn", danger ? "btn-danger" : "btn-primary"] }, h("span", { class: "btn-label", text: confirmLabel }));
    const cancel = h("button", { type: "button", class: "btn", text: "Cancel" });
    let succeeded = false;
    const form = h("form", { class: "dialog-body", novalidate: true },
      h("div", { class: ["dialog-icon", danger && "danger"] }, icon(iconName, { size: 22 })),
      h("h2", { id: "password-dialog-title", class: "dialog-title", text: title }),
      text ? h("p", { class: "dialog-text" }, text) : null,
      h("div", { class: "dialog-fields" },
        field("Password", password, { hint: minLength ? `At least ${minLength} characters.` : null }),
        again ? field("Repeat the password", again) : null,
      ),
      error.el,
      h("div", { class: "dialog-actions" }, cancel, confirm),
    );
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "password-dialog-title", dataset: { dialog: "password" } }, form);
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.clear();
      if (!password.value) {
        error.show("Enter the password.");
        password.focus();
        return;
      }
      if (minLength && password.value.length < minLength) {
        error.show(`The password needs at least ${minLength} characters.`);
        password.focus();
        return;
      }
      if (again && again.value !== password.value) {
        error.show("The two passwords differ.");
        again.focus();
        return;
      }
      try {
        await busy(confirm, () => submit(password.value));
      } catch (err) {
        error.show(err, messages);
        password.select();
        password.focus();
        return;
      }
      succeeded = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      password.value = "";
      if (again) again.value = "";
      dialog.remove();
      resolve(succeeded);
    });
    document.body.append(dialog);
    dialog.showModal();
    password.focus();
  });
}
