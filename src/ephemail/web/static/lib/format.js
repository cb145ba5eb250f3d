// Dates, sizes and sender names as people like to read them.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function startOfDay(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** "just now", "5 min ago", "3 h ago", "Yesterday", "12 Mar", "12 Mar 2024". */
export function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const age = now - t;
  if (age < 45_000) return "just now";
  if (age < HOUR) return `${Math.max(1, Math.round(age / MINUTE))} min ago`;
  if (age < 12 * HOUR || startOfDay(t) === startOfDay(now)) {
    return `${Math.round(age / HOUR)} h ago`;
  }
  if (startOfDay(t) === startOfDay(startOfDay(now) - 1)) return "Yesterday";
  const d = new Date(t);
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  return d.toLocaleDateString(undefined, {
    day: "numeric",
    month: "short",
    year: sameYear ? undefined : "numeric",
  });
}

/** "Tue, 12 Mar 2026, 14:32". */
export function fullDate(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  return new Date(t).toLocaleString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** 512 B, 4.2 KB, 13 KB, 1.4 MB. */
export function formatSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Split `"Alice Example" <alice@example.org>` into a display name and an address. */
export function parseMailbox(raw) {
  const text = String(raw || "").trim();
  const angle = text.match(/^(.*?)\s*<([^<>]*)>\s*$/);
  if (angle) {
    const name = angle[1].trim().replace(/^"(.*)"$/, "$1").replace(/\\(.)/g, "$1").trim();
    return { name, email: angle[2].trim() };
  }
  return { name: "", email: text };
}

/** What a list shows for a sender: the display name, else the address. */
export function senderLabel(raw) {
  const { name, email } = parseMailbox(raw);
  return name || email || "(unknown sender)";
}

/** One or two letters for an avatar. */
export function initials(label) {
  const words = String(label || "?")
    .replace(/[@._-]+/g, " ")
    .split(/\s+/)
    .filter((w) => /[\p{L}\p{N}]/u.test(w));
  const letters = words.slice(0, 2).map((w) => Array.from(w.replace(/^[^\p{L}\p{N}]+/u, ""))[0] || "");
  return letters.join("").toUpperCase() || "?";
}

/** A stable hue (0–359) for a string, so one sender always gets one avatar colour. */
export function hueOf(text) {
  let hash = 2166136261;
  for (const ch of String(text || "")) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 16777619);
  }
  return Math.abs(hash) % 360;
}

/** "3 messages", "1 message". */
export function plural(count, one, many = `${one}s`) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}
