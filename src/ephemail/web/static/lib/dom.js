// Building DOM nodes without ever parsing HTML.
//
// Message data (subjects, senders, bodies, headers) reaches the page only as text nodes and
// attribute values set through the DOM: the app never assigns innerHTML, so a hostile mail
// cannot inject markup or script into the app's origin.

/**
 * Create an element. `props` keys: `class` (string or array), `text` (textContent),
 * `dataset` (object), `vars` (CSS custom properties), `on<event>` (listener functions);
 * any other key becomes an attribute (`true` → empty attribute, `null`/`false` → omitted).
 * Children: nodes, strings (as text nodes), arrays of those; null/false are skipped.
 */
export function h(tag, props = null, ...children) {
  const el = document.createElement(tag);
  if (props) applyProps(el, props);
  return append(el, children);
}

export function applyProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "dataset") {
      for (const [name, v] of Object.entries(value)) if (v != null) el.dataset[name] = String(v);
    } else if (key === "vars") {
      for (const [name, v] of Object.entries(value)) el.style.setProperty(name, String(v));
    } else if (key.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${key} must be a function`);
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  return el;
}

/** Append children (nodes or text) to `el`; returns `el`. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace every child of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** An absolute http(s) URL, or null for anything else (javascript:, data:, relative junk). */
export function safeHttpUrl(raw) {
  if (typeof raw !== "string" || raw.length > 4096) return null;
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** True when the key event comes from a text field (shortcuts must not fire there). */
export function isTypingTarget(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
}

export function prefersReducedMotion() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}
