/* Shared by the inbox's modules: building elements (text only ever through textContent), calling the API
 * with the session's CSRF token, and formatting times. */

export const byId = (id) => document.getElementById(id);

/* The page's texts in its language, keyed by their English: the server renders the catalogue into the page (a
 * JSON script element), so the modules speak the language the server chose. `{name}` marks a value. */
const catalogue = JSON.parse(document.getElementById("inbox-texts")?.textContent || "{}");

export function t(text, values = {}) {
  const translated = catalogue[text] ?? text.replace(/^[a-z]+:/, "");
  return translated.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export function node(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text != null) element.textContent = text;
  return element;
}

/* Web addresses people write (http and https only) become links; everything else stays text. Punctuation that
 * usually ends a sentence is left out of the address, and Chinese punctuation ends it. */
const WEB_ADDRESS = /https?:\/\/[^\s<>"'\u3000-\u303f\uff00-\uffef]+/g;

export function linkedText(tag, className, text) {
  const element = node(tag, className);
  let start = 0;
  for (const match of text.matchAll(WEB_ADDRESS)) {
    let address = match[0].replace(/[.,;:!?'")\]}]+$/, "");
    if (address.includes("(") && match[0].startsWith(`${address})`)) address += ")";
    const link = node("a", null, address);
    link.href = address;
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    element.append(text.slice(start, match.index), link);
    start = match.index + address.length;
  }
  element.append(text.slice(start));
  return element;
}

export function button(text, onClick, className) {
  const element = node("button", className, text);
  element.type = "button";
  element.addEventListener("click", onClick);
  return element;
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body.detail || t("Request failed ({status})", { status }));
    this.status = status;
    this.code = body.code;
    this.retryAfterMs = (parseInt(retryAfter, 10) || 5) * 1000;
  }
}

/* The signed-in session ({agent, csrf_token}); onExpired is called when the hub no longer knows it. */
export const auth = { session: null, onExpired: () => {} };

export async function api(path, { method = "GET", json } = {}) {
  const headers = { Accept: "application/json" };
  if (auth.session && method !== "GET") headers["X-CSRF-Token"] = auth.session.csrf_token;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", body: json === undefined ? undefined : JSON.stringify(json),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 && auth.session) auth.onExpired();
  if (!response.ok) throw new ApiError(response.status, body, response.headers.get("Retry-After"));
  return body;
}

export const path = (strings, ...values) =>
  strings.reduce((joined, part, index) => joined + part + (index < values.length ? encodeURIComponent(values[index]) : ""), "");

export function formatTime(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  const today = new Date().toDateString() === moment.toDateString();
  const language = document.documentElement.lang;
  return today ? moment.toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit" })
    : moment.toLocaleString(language, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/* A labelled list of facts, each value as text. */
export function factList(facts) {
  const list = node("dl", "facts");
  facts.forEach(([term, value]) => list.append(node("dt", null, term), node("dd", null, value)));
  return list;
}
