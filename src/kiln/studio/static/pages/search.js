// Studio pages: search (the header's box opens #/search?q=): records by name, id or reference,
// grouped by kind, each linking to its page.
import { api, badge, clear, errorBox, h, link, route } from "../kiln.js";

const GROUPS = [
  ["datasets", "Data sets", (hit) => [link(hit.href, hit.ref)]],
  ["jobs", "Jobs", (hit) => [link(hit.href, hit.id), " ", h("span", { class: "muted" }, hit.kind), " ", badge(hit.status)]],
  ["model_groups", "Model groups", (hit) => [link(hit.href, hit.name)]],
  ["model_versions", "Model versions", (hit) => [link(hit.href, hit.ref), " ", badge(hit.approval_status)]],
  ["endpoints", "Endpoints", (hit) => [link(hit.href, hit.name)]],
  ["experiments", "Experiments", (hit) => [link(hit.href, hit.name)]],
  ["problems", "Problems", (hit) => [h("span", {}, `${hit.name} (version ${hit.version})`)]],
];

route("/search", async (main, _params, query) => {
  const q = (query.get("q") || "").trim();
  const box = document.getElementById("search-box");
  if (box && !box.value) box.value = q;
  const results = h("div", { id: "search-results" });
  main.append(h("h1", {}, q ? `Search: ${q}` : "Search"), results);
  if (!q) {
    results.append(h("p", { class: "muted" }, "Type a name, an id (or its start) or a reference such as churn:2 in the box above."));
    return;
  }
  let answer;
  try {
    answer = await api("/search", { query: { q, limit: 20 } });
  } catch (error) {
    clear(results, errorBox(error));
    return;
  }
  const found = GROUPS.filter(([key]) => answer.results[key] && answer.results[key].length);
  if (!found.length) {
    results.append(h("p", { class: "muted", id: "search-empty" }, `Nothing matches “${q}”.`));
    return;
  }
  for (const [key, title, render] of found) {
    results.append(h("section", { class: "card search-group", id: `search-${key}` },
      h("h2", {}, `${title} (${answer.results[key].length})`),
      h("ul", {}, answer.results[key].map((hit) => h("li", {}, render(hit))))));
  }
}, { nav: "search" });
