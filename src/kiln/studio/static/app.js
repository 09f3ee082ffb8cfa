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
import "./pages/search.js";
import "./pages/admin.js";

const NAV = [
  ["Lifecycle"],
  ["", "Overview", "#/"],
  ["canvas", "Canvas", "#/canvas"],
  ["data", "Data", "#/data"],
  ["jobs", "Jobs", "#/jobs"],
  ["experiments", "Experiments", "#/experiments"],
  ["models", "Models", "#/models"],
  ["endpoints", "Endpoints", "#/endpoints"],
  ["monitors", "Monitors", "#/monitors"],
  ["pipelines", "Pipelines", "#/pipelines"],
  ["Workspace"],
  ["audit", "Audit log", "#/audit"],
  ["users", "Users", "#/users", "admin"],
];

function buildNav() {
  const nav = document.getElementById("nav");
  for (const [key, label, href, role] of NAV) {
    if (label === undefined) nav.append(h("div", { class: "group" }, key));
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
