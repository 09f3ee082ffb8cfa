// The Studio page frame: the JSON API client, a tiny element builder, the hash router, the
// server-paged table, charts, toasts and the sign-in form. Every page module imports from here
// and registers its routes with route(); app.js imports the pages and starts the router.

export const state = { user: null, csrf: "" };

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || `http.${status}`;
    this.field = body && body.field;
    this.roleNeeded = body && body.role_needed;
    this.body = body;
  }
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === "") continue;
    params.set(key, value);
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

// Calls the Studio API. body: an object (sent as JSON), or a Blob/File (sent as it is). A 401
// shows the sign-in form (the page comes back after signing in); other errors throw ApiError.
export async function api(path, { method = "GET", body, query, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") init.headers["x-csrf-token"] = state.csrf;
  if (body instanceof Blob) {
    init.body = body;
    if (!init.headers["content-type"]) init.headers["content-type"] = body.type || "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const response = await fetch(withQuery(`/api${path}`, query), init);
  if (raw && response.ok) return response;
  const text = await response.text();
  let payload = null;
  try { payload = text ? JSON.parse(text) : null; } catch { payload = { detail: text.slice(0, 300) }; }
  if (response.status === 401 && path !== "/session") {
    state.user = null;
    showSignIn(payload && payload.detail);
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

// h("a", {href: "#/jobs", class: "x", onclick: fn}, "text", child, [more]) → an element.
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  // A button submits its form only when it says so (type: "submit"): a pager's Next inside a
  // form must not also submit it.
  if (tag === "button" && !(attrs && attrs.type)) element.type = "button";
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "value") element.value = value;
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// -- formatting -------------------------------------------------------------------------------

export function time(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return isNaN(date) ? String(iso) : date.toLocaleString();
}

export function ago(iso) {
  if (!iso) return "";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function number(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString();
  return Number(value.toPrecision(digits)).toString();
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || text || ""}` }, text || "");
}

export function link(href, text) {
  return h("a", { href }, text);
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "")]));
}

export function errorBox(error) {
  const detail = error instanceof ApiError ? error.message : String(error && error.message || error);
  const code = error instanceof ApiError ? ` (${error.code})` : "";
  return h("div", { class: "error", role: "alert" }, detail + code);
}

export function toast(message, bad = false) {
  const element = h("div", { class: `toast${bad ? " bad" : ""}`, role: bad ? "alert" : "status" }, message);
  document.getElementById("toasts").append(element);
  setTimeout(() => element.remove(), bad ? 8000 : 4000);
}

// Runs an action from a button: disables it meanwhile, toasts the error (the page stays).
export async function act(button, action, done) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    if (done) toast(done);
    return result;
  } catch (error) {
    toast(error.message + (error.code ? ` (${error.code})` : ""), true);
    throw error;
  } finally {
    if (button) button.disabled = false;
  }
}

// -- charts -----------------------------------------------------------------------------------

// A Plotly chart in `element` (plotly.js ships in the package; no CDN).
export function chart(element, traces, layout = {}) {
  const base = {
    margin: { l: 50, r: 20, t: 30, b: 40 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { size: 12 },
    legend: { orientation: "h" },
  };
  window.Plotly.react(element, traces, { ...base, ...layout }, { displaylogo: false, responsive: true });
  return element;
}

// -- the router -------------------------------------------------------------------------------

const routes = [];
let cleanups = [];

// route("/jobs/:id", async (main, params, query) => {...}, {nav: "jobs"})
export function route(pattern, render, { nav } = {}) {
  const names = [];
  const regex = new RegExp("^" + pattern.replace(/:(\w+)/g, (_, name) => { names.push(name); return "([^/]+)"; }) + "/?$");
  routes.push({ regex, names, render, nav: nav || pattern.split("/")[1] || "" });
}

// Runs fn when the page is left (stop polling, close streams).
export function onLeave(fn) {
  cleanups.push(fn);
}

// Repeats fn every ms milliseconds while the page is shown (the first call at once).
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (error) { if (!(error instanceof ApiError)) console.warn(error); }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  const stop = () => { stopped = true; clearTimeout(timer); };
  onLeave(stop);
  return stop;
}

export function navigate(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = path;
}

export function currentQuery() {
  const hash = location.hash.slice(1) || "/";
  return new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
}

export async function render() {
  for (const fn of cleanups) { try { fn(); } catch (error) { console.warn(error); } }
  cleanups = [];
  const main = document.getElementById("main");
  if (!state.user) return showSignIn();
  const hash = location.hash.slice(1) || "/";
  // An annotator has the labelling pages only (the API refuses them the rest).
  if (!can("viewer") && !hash.startsWith("/labeling")) { location.hash = "/labeling"; return; }
  const [path, queryText] = hash.split("?");
  const query = new URLSearchParams(queryText || "");
  for (const candidate of routes) {
    const match = candidate.regex.exec(path);
    if (!match) continue;
    const params = Object.fromEntries(candidate.names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
    for (const a of document.querySelectorAll("nav.side a")) a.classList.toggle("active", a.dataset.nav === candidate.nav);
    clear(main);
    try {
      await candidate.render(main, params, query);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      main.append(errorBox(error));
    }
    return;
  }
  clear(main, h("h1", {}, "Not found"), h("p", {}, "No Studio page at ", h("span", { class: "mono" }, path), ". ", link("#/", "Back to the overview")));
}

// -- signing in -------------------------------------------------------------------------------

export function showSignIn(message) {
  const main = document.getElementById("main");
  const error = h("div", {});
  if (message && state.wasSignedIn) error.append(errorBox(message));
  const name = h("input", { id: "sign-in-name", autocomplete: "username", required: true });
  const password = h("input", { id: "sign-in-password", type: "password", autocomplete: "current-password" });
  const token = h("input", { id: "sign-in-token", type: "password", placeholder: "kilnu_…" });
  const submit = async (event) => {
    event.preventDefault();
    clear(error);
    try {
      const body = token.value ? { token: token.value } : { name: name.value, password: password.value };
      const session = await api("/session", { method: "POST", body });
      setSession(session);
      render();
    } catch (err) {
      error.append(errorBox(err));
    }
  };
  renderWho();
  clear(main, h("form", { class: "card login", id: "sign-in", onsubmit: submit },
    h("h1", {}, "Sign in to kiln Studio"), error,
    h("label", { for: "sign-in-name" }, "User"), name,
    h("label", { for: "sign-in-password" }, "Password"), password,
    h("p", { class: "muted" }, "or a token from 'kiln users token NAME':"), token,
    h("p", {}, h("button", { class: "primary", type: "submit" }, "Sign in"))));
}

export function setSession(session) {
  state.user = session.user;
  state.csrf = session.csrf;
  state.wasSignedIn = true;
  renderWho();
  for (const element of document.querySelectorAll("[data-role]")) {
    element.hidden = !can(element.dataset.role);
  }
}

const ROLES = ["annotator", "viewer", "scientist", "approver", "admin"];

// Whether the signed-in user holds `role` or a more trusted one (the server checks again).
export function can(role) {
  return !!state.user && ROLES.indexOf(state.user.role) >= ROLES.indexOf(role);
}

function renderWho() {
  const who = document.getElementById("who");
  if (!state.user) return clear(who);
  const signOut = async () => {
    await api("/session", { method: "DELETE" });
    state.user = null;
    state.wasSignedIn = false;
    render();
  };
  clear(who, h("span", {}, state.user.name, " ", badge(state.user.role, "role")), h("button", { id: "sign-out", onclick: signOut }, "Sign out"));
}

// -- the server-paged table -------------------------------------------------------------------

// A table whose rows come a page at a time from the server.
//   fetch(params) → {items, total, offset, limit, sort}; params: {limit, offset, sort, ...filters}
//   columns: [{key, label, sort: "column" (server name) or undefined, render: row → node}]
//   filters: [{name, label, type: "text" | "select", options: [[value, label], ...]}]
// Returns the element; element.reload() fetches the current page again.
export function pagedTable({ fetch, columns, filters = [], pageSize = 50, sort = null, id, empty = "Nothing here yet." }) {
  const params = { limit: pageSize, offset: 0, sort };
  const body = h("tbody");
  const info = h("span", { class: "page-info" });
  const prev = h("button", { class: "page-prev", onclick: () => { params.offset = Math.max(0, params.offset - params.limit); load(); } }, "← Previous");
  const next = h("button", { class: "page-next", onclick: () => { params.offset += params.limit; load(); } }, "Next →");
  const message = h("div");
  const heads = columns.map((column) => {
    const th = h("th", { class: column.sort ? "sortable" : "", dataset: { key: column.key } }, column.label);
    if (column.sort) th.addEventListener("click", () => {
      params.sort = params.sort === column.sort ? `-${column.sort}` : column.sort;
      params.offset = 0;
      load();
    });
    return th;
  });
  const controls = filters.map((filter) => {
    const input = filter.type === "select"
      ? h("select", { name: filter.name, "aria-label": filter.label }, h("option", { value: "" }, `${filter.label}: any`), filter.options.map(([value, label]) => h("option", { value }, label)))
      : h("input", { name: filter.name, type: "search", placeholder: filter.label, "aria-label": filter.label });
    let timer;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { params[filter.name] = input.value; params.offset = 0; load(); }, filter.type === "select" ? 0 : 250);
    });
    return input;
  });
  let sequence = 0;
  async function load() {
    const mine = ++sequence;
    let page;
    try {
      page = await fetch({ ...params });
    } catch (error) {
      if (mine === sequence) clear(message, errorBox(error));
      return;
    }
    if (mine !== sequence) return; // a newer request answered first
    clear(message);
    params.sort = page.sort ?? params.sort;
    for (const th of heads) {
      const column = columns.find((c) => c.key === th.dataset.key);
      th.classList.toggle("sorted-asc", !!column.sort && params.sort === column.sort);
      th.classList.toggle("sorted-desc", !!column.sort && params.sort === `-${column.sort}`);
    }
    clear(body, page.items.length
      ? page.items.map((row) => h("tr", {}, columns.map((column) => h("td", {}, column.render ? column.render(row) : row[column.key] ?? ""))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty)));
    const last = Math.min(page.offset + page.items.length, page.total);
    info.textContent = page.total ? `${(page.offset + 1).toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()}` : "0 of 0";
    prev.disabled = page.offset <= 0;
    next.disabled = last >= page.total;
  }
  const element = h("div", { class: "paged", id },
    controls.length ? h("div", { class: "toolbar" }, controls) : null,
    message,
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, heads)), body),
    h("div", { class: "pager" }, prev, info, next));
  element.reload = load;
  element.params = params;
  load();
  return element;
}
