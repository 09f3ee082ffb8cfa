// The overview: where each part of the lifecycle stands, what needs attention, and what changed.
import { api, ago, badge, h, link, number, pagedTable, route } from "../kiln.js";

// One number from a paged list: its total (a one-row page).
async function total(path, query = {}) {
  const page = await api(path, { query: { ...query, limit: 1 } });
  return page.total;
}

function stat(id, label, href, value) {
  return h("a", { class: "card stat", id, href }, h("b", {}, number(value)), label);
}

route("/", async (main) => {
  const [datasets, jobs, running, versions, pending, endpoints] = await Promise.all([
    total("/data"),
    total("/jobs", { top_level: true }),
    total("/jobs", { status: "InProgress" }),
    total("/models/versions"),
    total("/models/versions", { status: "PendingManualApproval" }),
    total("/endpoints"),
  ]);
  main.append(
    h("h1", {}, "Overview"),
    h("p", { class: "muted" }, "Start from a CSV in ", link("#/canvas", "Canvas"), ", or browse the workspace's records on the left."),
    h("div", { class: "cards", id: "overview-stats" },
      stat("stat-datasets", "data sets", "#/data", datasets),
      stat("stat-jobs", "jobs", "#/jobs", jobs),
      stat("stat-running", "running now", "#/jobs?status=InProgress", running),
      stat("stat-versions", "model versions", "#/models", versions),
      stat("stat-pending", "waiting for approval", "#/models", pending),
      stat("stat-endpoints", "endpoints", "#/endpoints", endpoints)),
    h("h2", {}, "Recent jobs"),
    pagedTable({
      id: "recent-jobs",
      pageSize: 5,
      fetch: (params) => api("/jobs", { query: { ...params, top_level: true } }),
      columns: [
        { key: "id", label: "Job", render: (row) => link(`#/jobs/${encodeURIComponent(row.id)}`, row.id) },
        { key: "kind", label: "Kind" },
        { key: "status", label: "Status", render: (row) => badge(row.status) },
        { key: "created_at", label: "Started", render: (row) => ago(row.created_at) },
      ],
      empty: "No jobs yet.",
    }),
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
