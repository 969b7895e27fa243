// h("div", {class: "card", onclick: fn}, "text", child, ...) — builds elements; text is never parsed as HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && key !== "list" && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function formatTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, hours = Math.floor(seconds / 3600);
  const mm = hours ? String(m).padStart(2, "0") : String(m);
  return `${hours ? hours + ":" : ""}${mm}:${String(s).padStart(2, "0")}`;
}

// A stable colour pair for a name, for the cards' artwork (listing thumbnails need a CDN grant we don't have yet).
export function hueOf(text) {
  let hash = 0;
  for (const ch of text) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 360;
}

// A small inline SVG icon: `shapes` are path data; those starting with "~" are drawn as lines, the others filled.
const SVG_NS = "http://www.w3.org/2000/svg";
export function icon(...shapes) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  for (const shape of shapes) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", shape.replace(/^~/, ""));
    if (shape.startsWith("~")) path.setAttribute("class", "line");
    svg.append(path);
  }
  return svg;
}
