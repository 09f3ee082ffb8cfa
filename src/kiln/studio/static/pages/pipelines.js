// Studio pages: pipelines — the pipelines and their executions, and an execution's DAG drawn as
// SVG from the step dependencies, colored by each step's status, cache hits marked, with re-run
// (see app.js for the frame).
import { act, api, badge, can, clear, every, facts, h, link, navigate, number, pagedTable, route, time } from "../kiln.js";
import { jobLink } from "./jobs.js";

const enc = encodeURIComponent;
const FINAL = ["Completed", "Failed", "Stopped"];
const STATUSES = ["Pending", "InProgress", "Completed", "Failed", "Stopped"];

function executionLink(id) {
  return h("a", { href: `#/pipelines/executions/${enc(id)}`, class: "mono" }, id);
}

function seconds(value) {
  return value === null || value === undefined ? "" : `${number(value, 3)} s`;
}

route("/pipelines", async (main, _params, query) => {
  const pipelines = await api("/pipelines");
  const chosen = query.get("pipeline") || "";
  const executions = pagedTable({
    id: "executions-table",
    sort: "-created_at",
    fetch: (params) => api("/pipeline-executions", { query: { pipeline: chosen, ...params } }),
    filters: [{ name: "status", label: "Status", type: "select", options: STATUSES.map((s) => [s, s]) }],
    columns: [
      { key: "id", label: "Execution", sort: "id", render: (row) => executionLink(row.id) },
      { key: "status", label: "Status", sort: "status", render: (row) => badge(row.status) },
      { key: "created_at", label: "Started", sort: "created_at", render: (row) => time(row.created_at) },
      { key: "duration_seconds", label: "Duration", render: (row) => seconds(row.duration_seconds) },
      { key: "created_by", label: "Who" },
    ],
    empty: "No executions. Run a pipeline with 'kiln pipelines run FILE'.",
  });
  main.append(
    h("h1", {}, "Pipelines"),
    h("p", { class: "muted" }, "Named DAGs of steps (ingest, processing, train, evaluate, gates, register, deploy, monitor), run as executions whose unchanged steps come from the cache."),
    pipelines.items.length
      ? h("table", { class: "grid", id: "pipelines-table" },
        h("thead", {}, h("tr", {}, ["Pipeline", "Version", "Steps", "Description", "Registered"].map((t) => h("th", {}, t)))),
        h("tbody", {}, pipelines.items.map((p) => h("tr", { class: p.name === chosen ? "chosen" : "" },
          h("td", {}, link(`#/pipelines?pipeline=${enc(p.name)}`, p.name)),
          h("td", {}, String(p.version)),
          h("td", {}, String(Object.keys(p.definition.steps || {}).length)),
          h("td", {}, p.definition.description || ""),
          h("td", {}, time(p.created_at))))))
      : h("p", { class: "muted", id: "pipelines-table" }, "No pipelines yet."),
    h("h2", {}, chosen ? ["Executions of ", h("span", { class: "mono" }, chosen), " (", link("#/pipelines", "all"), ")"] : "Executions"),
    executions,
  );
});

// -- the DAG ----------------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const BOX = { width: 170, height: 50, gapX: 60, gapY: 22, pad: 16 };

function svg(tag, attrs, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined) element.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

// Each step in the column of its longest chain of upstream steps, in run order within a column.
function layout(nodes) {
  const level = {};
  for (const node of nodes) level[node.name] = Math.max(0, ...node.upstream.map((u) => (level[u] ?? -1) + 1));
  const rows = {};
  const place = {};
  for (const node of nodes) {
    const column = level[node.name];
    const row = rows[column] = (rows[column] ?? -1) + 1;
    place[node.name] = { x: BOX.pad + column * (BOX.width + BOX.gapX), y: BOX.pad + row * (BOX.height + BOX.gapY) };
  }
  const columns = Math.max(0, ...Object.values(level)) + 1;
  const height = Math.max(0, ...Object.values(rows)) + 1;
  return { place, width: 2 * BOX.pad + columns * BOX.width + (columns - 1) * BOX.gapX, height: 2 * BOX.pad + height * BOX.height + (height - 1) * BOX.gapY };
}

function dag(graph, onPick) {
  const { place, width, height } = layout(graph.nodes);
  const edges = graph.edges.map(([from, to]) => {
    const a = place[from], b = place[to];
    if (!a || !b) return null;
    const x1 = a.x + BOX.width, y1 = a.y + BOX.height / 2, x2 = b.x, y2 = b.y + BOX.height / 2;
    const bend = Math.max(30, (x2 - x1) / 2);
    return svg("path", { class: "edge", d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)", "data-edge": `${from}->${to}` });
  });
  const boxes = graph.nodes.map((node) => {
    const { x, y } = place[node.name];
    const status = node.cached ? "cache hit" : node.status;
    return svg("g", { class: `step ${node.status}${node.cached ? " cached" : ""}`, "data-step": node.name, transform: `translate(${x},${y})`, onclick: () => onPick(node) },
      svg("title", {}, `${node.name}: ${node.status}${node.reason ? ` (${node.reason})` : ""}`),
      svg("rect", { width: BOX.width, height: BOX.height, rx: 6 }),
      svg("text", { x: 10, y: 20 }, node.name.length > 22 ? `${node.name.slice(0, 21)}…` : node.name),
      svg("text", { x: 10, y: 38, class: "sub" }, `${node.type} · ${status}`));
  });
  return svg("svg", { class: "dag", id: "execution-dag", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "The execution's steps and their dependencies" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa3b5" }))),
    edges, boxes);
}

function stepFacts(node) {
  return [
    h("h2", {}, "Step ", h("span", { class: "mono" }, node.name), " ", badge(node.status), node.cached ? [" ", badge("cache hit", "ok")] : null),
    facts([
      ["Type", node.type],
      ["Waits for", node.upstream.join(", ") || "—"],
      ["Why", node.reason || ""],
      node.cached ? ["Outputs from", h("span", { class: "mono" }, node.cached_from)] : null,
      ["Attempts", node.attempts ?? ""],
      ["Duration", seconds(node.duration_seconds)],
      ["Job", node.job_id ? jobLink(node.job_id) : "—"],
      ["Outputs", h("span", { class: "mono" }, node.outputs && Object.keys(node.outputs).length ? JSON.stringify(node.outputs) : "—")],
    ]),
  ];
}

route("/pipelines/executions/:id", async (main, { id }) => {
  let graph = await api(`/pipeline-executions/${enc(id)}`);
  id = graph.execution.id;
  const status = h("span", { id: "execution-status" });
  const info = h("div", { class: "card", id: "execution-facts" });
  const picture = h("div", { id: "execution-dag-box" });
  const detail = h("div", { class: "card", id: "step-detail" }, h("p", { class: "muted" }, "Pick a step to see why it ran, its job and its outputs."));
  const steps = h("div", { id: "execution-steps" });
  let picked = null;
  const pick = (node) => { picked = node.name; clear(detail, stepFacts(node)); };
  const noCache = h("input", { type: "checkbox", id: "execution-rerun-nocache" });
  const rerun = h("button", { class: "primary", id: "execution-rerun" }, "Re-run");
  rerun.addEventListener("click", () => act(rerun, async () => {
    const started = await api(`/pipeline-executions/${enc(id)}/rerun`, { method: "POST", body: { no_cache: noCache.checked } });
    navigate(`/pipelines/executions/${started.execution}`);
  }, "Started a new execution"));
  const draw = () => {
    const job = graph.execution;
    clear(status, badge(job.status));
    clear(info, facts([
      ["Pipeline", link(`#/pipelines?pipeline=${enc(graph.pipeline)}`, `${graph.pipeline}:${graph.version}`)],
      ["Trigger", job.spec.trigger || ""],
      ["Parameters", h("span", { class: "mono" }, JSON.stringify(job.spec.params || {}))],
      ["Started", `${time(job.created_at)} by ${job.created_by}`],
      ["Duration", seconds(job.duration_seconds)],
      ["Log", jobLink(job.id)],
      job.failure_reason ? ["Why it ended", h("span", { class: "mono" }, job.failure_reason.split("\n").slice(-1)[0])] : null,
    ]));
    clear(picture, dag(graph, pick));
    clear(steps, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Step", "Type", "Status", "Cache", "Attempts", "Duration", "Why", "Job"].map((t) => h("th", {}, t)))),
      h("tbody", {}, graph.nodes.map((node) => h("tr", { dataset: { step: node.name } },
        h("td", { class: "mono" }, node.name),
        h("td", {}, node.type),
        h("td", {}, badge(node.status)),
        h("td", {}, node.cached ? badge("cache hit", "ok") : ""),
        h("td", {}, node.attempts ?? ""),
        h("td", {}, seconds(node.duration_seconds)),
        h("td", {}, node.reason || ""),
        h("td", {}, node.job_id ? jobLink(node.job_id) : ""))))));
    const current = graph.nodes.find((node) => node.name === picked);
    if (current) clear(detail, stepFacts(current));
  };
  main.append(
    h("h1", {}, "Execution ", h("span", { class: "mono" }, id), " ", status),
    can("scientist") ? h("div", { class: "toolbar" }, rerun, h("label", { for: "execution-rerun-nocache" }, noCache, " without the cache")) : null,
    info,
    h("h2", {}, "Steps"),
    picture,
    detail,
    steps,
  );
  draw();
  if (!FINAL.includes(graph.execution.status)) {
    const stop = every(1500, async () => {
      graph = await api(`/pipeline-executions/${enc(id)}`);
      draw();
      if (FINAL.includes(graph.execution.status)) stop();
    });
  }
}, { nav: "pipelines" });
