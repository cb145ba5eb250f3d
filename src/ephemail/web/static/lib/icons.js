// Line icons drawn for ephemail (24×24 grid, stroked with currentColor), built as SVG DOM.
import { h } from "./dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";

// Each icon: a list of shapes; a string is a path's `d`, an array is [tag, attributes].
const ICONS = {
  mail: [["rect", { x: 3, y: 5, width: 18, height: 14, rx: 2.5 }], "M4 7l8 6 8-6"],
  "mail-open": ["M3 10.5 12 4l9 6.5V19a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z", "M3.5 10.5 12 16l8.5-5.5"],
  inbox: ["M3 13h5l1.5 3h5l1.5-3h5", "M5.6 5h12.8L21 13v6a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-6z"],
  copy: [["rect", { x: 9, y: 9, width: 11, height: 11, rx: 2 }], "M5 15V6a2 2 0 0 1 2-2h9"],
  check: ["M5 12.5l4.5 4.5L19 7.5"],
  trash: ["M4 7h16", "M10 11v6", "M14 11v6", "M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12", "M9 7V4.5h6V7"],
  refresh: ["M20 12a8 8 0 1 1-2.4-5.7", "M20 4.5V9h-4.5"],
  search: [["circle", { cx: 11, cy: 11, r: 6.5 }], "M20 20l-4.2-4.2"],
  paperclip: ["M20.5 11.5l-8.3 8.3a5 5 0 0 1-7.1-7.1l8.7-8.7a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9"],
  sun: [["circle", { cx: 12, cy: 12, r: 4 }], "M12 2.5v2", "M12 19.5v2", "M2.5 12h2", "M19.5 12h2", "M5.3 5.3l1.4 1.4", "M17.3 17.3l1.4 1.4", "M5.3 18.7l1.4-1.4", "M17.3 6.7l1.4-1.4"],
  moon: ["M20 14.6A8 8 0 0 1 9.4 4 8.3 8.3 0 1 0 20 14.6z"],
  download: ["M12 4v11", "M7.5 10.5 12 15l4.5-4.5", "M5 20h14"],
  back: ["M19 12H5", "M11 6l-6 6 6 6"],
  close: ["M6 6l12 12", "M18 6 6 18"],
  keyboard: [["rect", { x: 2.5, y: 6, width: 19, height: 12, rx: 2 }], "M6.5 10h.01", "M10 10h.01", "M13.5 10h.01", "M17 10h.01", "M8 14h8"],
  sparkles: ["M11 3.5l1.8 4.7 4.7 1.8-4.7 1.8L11 16.5l-1.8-4.7L4.5 10l4.7-1.8z", "M18.5 14.5l.8 2.2 2.2.8-2.2.8-.8 2.2-.8-2.2-2.2-.8 2.2-.8z"],
  link: ["M10 14a4.2 4.2 0 0 0 6 0l3-3a4.2 4.2 0 0 0-6-6l-1 1", "M14 10a4.2 4.2 0 0 0-6 0l-3 3a4.2 4.2 0 0 0 6 6l1-1"],
  external: ["M14 4h6v6", "M20 4l-8.5 8.5", "M18 14v4.5a1.5 1.5 0 0 1-1.5 1.5h-11A1.5 1.5 0 0 1 4 18.5v-11A1.5 1.5 0 0 1 5.5 6H10"],
  shield: ["M12 3l7.5 3v5.5c0 4.4-3.1 8.2-7.5 9.5-4.4-1.3-7.5-5.1-7.5-9.5V6z", "M9 12l2.2 2.2L15.5 10"],
  key: [["circle", { cx: 8, cy: 15, r: 4 }], "M10.9 12.1 20 3", "M16.5 6.5l2.5 2.5", "M14 9l2 2"],
  file: ["M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z", "M14 3v5h5"],
  image: [["rect", { x: 3.5, y: 4.5, width: 17, height: 15, rx: 2 }], ["circle", { cx: 9, cy: 10, r: 1.6 }], "M20.5 16l-5-5-8.5 8.5"],
  alert: [["circle", { cx: 12, cy: 12, r: 9 }], "M12 7.5v5.5", "M12 16.5h.01"],
  info: [["circle", { cx: 12, cy: 12, r: 9 }], "M12 11v5.5", "M12 7.5h.01"],
  help: [["circle", { cx: 12, cy: 12, r: 9 }], "M9.6 9.3a2.5 2.5 0 0 1 4.9.7c0 1.7-2.5 2.2-2.5 3.7", "M12 17h.01"],
  arrow: ["M5 12h14", "M13 6l6 6-6 6"],
  x: ["M7 7l10 10", "M17 7 7 17"],
  up: ["M6.5 14.5 12 9l5.5 5.5"],
  down: ["M6.5 9.5 12 15l5.5-5.5"],
  clock: [["circle", { cx: 12, cy: 12, r: 9 }], "M12 7v5l3 2"],
  bolt: ["M13 2.5 4.5 13.5H12l-1 8 8.5-11H12z"],
  lock: [["rect", { x: 5, y: 10.5, width: 14, height: 10, rx: 2 }], "M8 10.5V8a4 4 0 0 1 8 0v2.5"],
  code: ["M8.5 7 3.5 12l5 5", "M15.5 7l5 5-5 5"],
  folder: ["M3.5 7.5V18a1.5 1.5 0 0 0 1.5 1.5h14a1.5 1.5 0 0 0 1.5-1.5V9.5A1.5 1.5 0 0 0 19 8h-7l-2-2.5H5A1.5 1.5 0 0 0 3.5 7z"],
  send: ["M20.5 3.5 10 14", "M20.5 3.5 14 20.5l-4-6.5-6.5-4z"],
  draft: ["M15.5 4.5l4 4L9 19H5v-4z", "M13 7l4 4"],
  archive: [["rect", { x: 3, y: 4.5, width: 18, height: 4.5, rx: 1 }], "M5 9v9.5A1.5 1.5 0 0 0 6.5 20h11a1.5 1.5 0 0 0 1.5-1.5V9", "M10 13h4"],
  junk: [["circle", { cx: 12, cy: 12, r: 8.5 }], "M6 6l12 12"],
  user: [["circle", { cx: 12, cy: 8.5, r: 3.8 }], "M4.5 20a7.5 7.5 0 0 1 15 0"],
  users: [["circle", { cx: 9, cy: 8.5, r: 3.5 }], "M2.5 19.5a6.5 6.5 0 0 1 13 0", "M15.5 5.2a3.5 3.5 0 0 1 0 6.6", "M18 13.7a6.5 6.5 0 0 1 3.5 5.8"],
  logout: ["M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4", "M10 16.5 5.5 12 10 7.5", "M5.5 12H16"],
  unlock: [["rect", { x: 5, y: 10.5, width: 14, height: 10, rx: 2 }], "M8 10.5V8a4 4 0 0 1 7.7-1.5"],
  plus: ["M12 5v14", "M5 12h14"],
  globe: [["circle", { cx: 12, cy: 12, r: 9 }], "M3 12h18", "M12 3c2.5 2.6 3.7 5.6 3.7 9s-1.2 6.4-3.7 9c-2.5-2.6-3.7-5.6-3.7-9S9.5 5.6 12 3z"],
  ban: [["circle", { cx: 12, cy: 12, r: 9 }], "M5.6 5.6l12.8 12.8"],
  chart: ["M4 20h16", "M7 16.5V11", "M12 16.5V6.5", "M17 16.5v-3.5"],
};

/** An icon as an <svg> element (decorative: hidden from screen readers). */
export function icon(name, { size = 18, cls = "" } = {}) {
  const shapes = ICONS[name] || ICONS.info;
  const svg = document.createElementNS(SVG_NS, "svg");
  const attrs = {
    viewBox: "0 0 24 24",
    width: size,
    height: size,
    fill: "none",
    stroke: "currentColor",
    "stroke-width": 1.8,
    "stroke-linecap": "round",
    "stroke-linejoin": "round",
    "aria-hidden": "true",
    focusable: "false",
    class: `icon ${cls}`.trim(),
  };
  for (const [k, v] of Object.entries(attrs)) svg.setAttribute(k, String(v));
  for (const shape of shapes) {
    const [tag, shapeAttrs] = typeof shape === "string" ? ["path", { d: shape }] : shape;
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(shapeAttrs)) node.setAttribute(k, String(v));
    svg.append(node);
  }
  return svg;
}

/** A button with an icon and an accessible label (shown as text unless `iconOnly`). */
export function iconButton(name, label, { onClick, cls = "", iconOnly = false, ...props } = {}) {
  return h(
    "button",
    {
      type: "button",
      class: ["btn", iconOnly && "btn-icon", cls],
      title: label,
      "aria-label": iconOnly ? label : null,
      onclick: onClick,
      ...props,
    },
    icon(name),
    iconOnly ? null : h("span", { class: "btn-label", text: label }),
  );
}
