// Studio's entry point: the navigation, the pages (each registers its routes), and the start.
import { api, h, navigate, render, setSession, state } from "./kiln.js";
import "./pages/overview.js";
import "./pages/canvas.js";
import "./pages/data.js";
import "./pages/jobs.js";
import "./pages/experiments.js";
import "./pages/models.js";
import "./pages/endpoints.js";
import "./pages/monitors.js";
import "./pages/pipelines.js";
import "./pages/labeling.js";
import "./pages/search.js";
import "./pages/admin.js";

// [key, label, href, role]: an entry shows only to that role and more trusted ones (an annotator
// sees Labelling alone); a heading is [title, undefined, undefined, role].
const NAV = [
  ["Lifecycle", undefined, undefined, "viewer"],
  ["", "Overview", "#/", "viewer"],
  ["canvas", "Canvas", "#/canvas", "viewer"],
  ["data", "Data", "#/data", "viewer"],
  ["labeling", "Labelling", "#/labeling", "annotator"],
  ["jobs", "Jobs", "#/jobs", "viewer"],
  ["experiments", "Experiments", "#/experiments", "viewer"],
  ["models", "Models", "#/models", "viewer"],
  ["endpoints", "Endpoints", "#/endpoints", "viewer"],
  ["monitors", "Monitors", "#/monitors", "viewer"],
  ["pipelines", "Pipelines", "#/pipelines", "viewer"],
  ["Workspace", undefined, undefined, "viewer"],
  ["audit", "Audit log", "#/audit", "viewer"],
  ["users", "Users", "#/users", "admin"],
];

function buildNav() {
  const nav = document.getElementById("nav");
  for (const [key, label, href, role] of NAV) {
    if (label === undefined) nav.append(h("div", { class: "group", dataset: role ? { role } : {} }, key));
    else nav.append(h("a", { href, dataset: role ? { nav: key, role } : { nav: key } }, label));
  }
}

async function start() {
  buildNav();
  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("search-box").value.trim();
    if (q) navigate(`/search?q=${encodeURIComponent(q)}`);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
      event.preventDefault();
      document.getElementById("search-box").focus();
    }
  });
  const session = await api("/session");
  if (session.user) setSession(session);
  window.addEventListener("hashchange", render);
  await render();
  document.body.dataset.ready = state.user ? "signed-in" : "signed-out";
}

start();
