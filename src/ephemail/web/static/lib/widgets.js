// Small pieces shared by the views: avatars, skeleton placeholders, empty states, times.
import { h } from "./dom.js";
import { fullDate, hueOf, initials, relativeTime } from "./format.js";
import { icon } from "./icons.js";

/** A round avatar with initials, coloured by a stable hash of `seed`. */
export function avatar(label, seed, { size = "md" } = {}) {
  return h("span", {
    class: ["avatar", `avatar-${size}`],
    vars: { "--avatar-hue": String(hueOf(seed || label)) },
    "aria-hidden": "true",
    text: initials(label),
  });
}

/** A <time> that keeps its relative wording fresh (see refreshTimes). */
export function timeAgo(iso, { cls = "" } = {}) {
  return h("time", {
    class: cls,
    datetime: iso,
    title: fullDate(iso),
    dataset: { relative: iso },
    text: relativeTime(iso),
  });
}

/** Re-render every relative time on the page (called on a timer). */
export function refreshTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[data-relative]")) {
    const text = relativeTime(el.dataset.relative, now);
    if (el.textContent !== text) el.textContent = text;
  }
}

/** Grey shimmering list items standing in for message rows while they load. */
export function listSkeleton(rows = 7) {
  return Array.from({ length: rows }, (_, i) => h("li", { class: "skeleton-row", "aria-hidden": "true" },
    h("span", { class: "skeleton skeleton-avatar" }),
    h("span", { class: "skeleton-lines" },
      h("span", { class: ["skeleton", "skeleton-line", i % 2 ? "w-40" : "w-55"] }),
      h("span", { class: ["skeleton", "skeleton-line", i % 3 ? "w-80" : "w-65"] }),
    ),
  ));
}

/** The reader's placeholder while a message loads. */
export function readerSkeleton() {
  return h("div", { class: "reader-skeleton", "aria-hidden": "true" },
    h("span", { class: "skeleton skeleton-title" }),
    h("div", { class: "skeleton-meta" },
      h("span", { class: "skeleton skeleton-avatar lg" }),
      h("span", { class: "skeleton-lines" },
        h("span", { class: "skeleton skeleton-line w-40" }),
        h("span", { class: "skeleton skeleton-line w-25" }),
      ),
    ),
    h("span", { class: "skeleton skeleton-body" }),
  );
}

/** A friendly empty or error state: an icon in a soft circle, a title, text, actions. */
export function emptyState({ iconName = "inbox", title, text = "", actions = [], tone = "", pulse = false }) {
  return h("div", { class: ["empty-state", tone && `empty-${tone}`] },
    h("div", { class: ["empty-icon", pulse && "pulse"] }, icon(iconName, { size: 28 })),
    h("h2", { class: "empty-title", text: title }),
    text ? h("p", { class: "empty-text" }, text) : null,
    actions.length ? h("div", { class: "empty-actions" }, actions) : null,
  );
}

/** A <kbd> hint. */
export function kbd(key) {
  return h("kbd", { text: key });
}
