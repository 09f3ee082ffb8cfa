// The overview: where each part of the lifecycle stands, and what changed lately.
import { api, ago, badge, h, link, pagedTable, route } from "../kiln.js";

route("/", async (main) => {
  main.append(
    h("h1", {}, "Overview"),
    h("p", { class: "muted" }, "Start from a CSV in ", link("#/canvas", "Canvas"), ", or browse the workspace's records on the left."),
    h("h2", {}, "Recent changes"),
    pagedTable({
      id: "recent-changes",
      pageSize: 10,
      fetch: (params) => api("/audit", { query: params }),
      columns: [
        { key: "at", label: "When", render: (row) => ago(row.at) },
        { key: "user", label: "Who" },
        { key: "action", label: "What", render: (row) => h("span", { class: "mono" }, row.action) },
        { key: "target", label: "On" },
        { key: "outcome", label: "Outcome", render: (row) => badge(row.outcome) },
      ],
      empty: "No changes made through Studio yet.",
    }),
  );
}, { nav: "" });
