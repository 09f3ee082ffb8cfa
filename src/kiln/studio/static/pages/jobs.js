// Studio pages: jobs — the paged list, and one job with its live status, streamed log, metric
// curves, report and a cancel button (see app.js for the frame).
import { act, api, badge, can, chart, clear, errorBox, every, facts, h, link, number, onLeave, pagedTable, route, time } from "../kiln.js";

const STATUSES = ["Pending", "InProgress", "Completed", "Failed", "Stopped"];

function seconds(value) {
  if (value === null || value === undefined) return "";
  if (value < 120) return `${number(value, 3)} s`;
  if (value < 7200) return `${number(value / 60, 3)} min`;
  return `${number(value / 3600, 3)} h`;
}

export function jobLink(id) {
  return h("a", { href: `#/jobs/${encodeURIComponent(id)}`, class: "mono" }, id);
}

function jobColumns() {
  return [
    { key: "id", label: "Job", sort: "id", render: (row) => jobLink(row.id) },
    { key: "kind", label: "Kind", sort: "kind" },
    { key: "status", label: "Status", sort: "status", render: (row) => badge(row.status) },
    { key: "experiment", label: "Experiment" },
    { key: "created_at", label: "Created", sort: "created_at", render: (row) => time(row.created_at) },
    { key: "started_at", label: "Started", sort: "started_at", render: (row) => time(row.started_at) },
    { key: "duration_seconds", label: "Duration", render: (row) => seconds(row.duration_seconds) },
    { key: "parent_id", label: "Started by", render: (row) => (row.parent_id ? jobLink(row.parent_id) : "") },
    { key: "created_by", label: "Who" },
  ];
}

route("/jobs", async (main, _params, query) => {
  const { kinds } = await api("/jobs/kinds");
  const fixed = {};
  for (const name of ["experiment", "parent_id", "status", "kind"]) if (query.get(name)) fixed[name] = query.get(name);
  main.append(
    h("h1", {}, "Jobs"),
    h("p", { class: "muted" }, "Every long-running operation: training, tuning, AutoML, transforms, monitoring, pipelines.",
      Object.keys(fixed).length ? [" Showing only ", Object.entries(fixed).map(([k, v]) => `${k} = ${v}`).join(", "), " (", link("#/jobs", "all jobs"), ")."] : ""),
    pagedTable({
      id: "jobs-table",
      sort: "-created_at",
      fetch: (params) => api("/jobs", { query: { ...params, ...fixed } }),
      filters: [
        { name: "q", label: "Search id or kind", type: "text" },
        { name: "kind", label: "Kind", type: "select", options: kinds.map((k) => [k, k]) },
        { name: "status", label: "Status", type: "select", options: STATUSES.map((s) => [s, s]) },
        { name: "top_level", label: "Started by", type: "select", options: [["true", "no other job"]] },
      ],
      columns: jobColumns(),
      empty: "No jobs match.",
    }),
  );
});

function logLine(line) {
  return h("span", { class: line.level, dataset: { seq: line.seq } }, `${line.time.slice(11, 19)} ${line.level.padEnd(7)} ${line.message}\n`);
}

// The log: the last 1,000 lines, "load earlier" a page at a time, then the lines streamed while
// the job runs. Returns {element, follow(job)}.
function logView(id) {
  const pre = h("pre", { class: "logs", id: "job-logs" });
  const earlier = h("button", { id: "job-logs-earlier", hidden: true }, "Load earlier lines");
  const state = { first: null, last: 0, source: null };
  const stickToEnd = () => { pre.scrollTop = pre.scrollHeight; };
  earlier.addEventListener("click", () => act(earlier, async () => {
    const page = await api(`/jobs/${encodeURIComponent(id)}/logs`, { query: { before: state.first, limit: 1000 } });
    const height = pre.scrollHeight;
    pre.prepend(...page.lines.map(logLine));
    pre.scrollTop += pre.scrollHeight - height;
    if (page.first !== null) state.first = page.first;
    earlier.hidden = !page.earlier;
  }));
  async function load() {
    const page = await api(`/jobs/${encodeURIComponent(id)}/logs`, { query: { tail: 1000 } });
    clear(pre, page.lines.map(logLine));
    state.first = page.first;
    state.last = page.last ?? 0;
    earlier.hidden = !page.earlier;
    stickToEnd();
  }
  function follow(onStatus) {
    const source = new EventSource(`/api/jobs/${encodeURIComponent(id)}/logs/stream?after=${state.last}`);
    state.source = source;
    pre.dataset.streaming = "yes";
    source.addEventListener("line", (event) => {
      const line = JSON.parse(event.data);
      if (line.seq <= state.last) return;
      const atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
      pre.append(logLine(line));
      state.last = line.seq;
      if (state.first === null) state.first = line.seq;
      if (atEnd) stickToEnd();
    });
    source.addEventListener("status", (event) => onStatus(JSON.parse(event.data).status));
    source.addEventListener("end", (event) => {
      source.close();
      pre.dataset.streaming = "ended";
      onStatus(JSON.parse(event.data).status);
    });
    onLeave(() => source.close());
  }
  return { element: h("div", {}, earlier, pre), load, follow };
}

function metricCharts(container, series) {
  const names = Object.keys(series);
  if (!names.length) return clear(container, h("p", { class: "muted" }, "This job logged no per-step metrics."));
  const traces = names.map((name) => ({ type: "scatter", mode: "lines", name, x: series[name].steps, y: series[name].values }));
  let plot = container.querySelector(".chart");
  if (!plot) { plot = h("div", { class: "chart", id: "job-metrics-chart" }); clear(container, plot); }
  chart(plot, traces, { xaxis: { title: { text: "step" } }, yaxis: { title: { text: "value" } } });
}

function reportView(id, job) {
  if (!job.has_report) {
    const why = job.status === "Completed" ? `A ${job.kind} job has no report.` : "The report is written once the job has completed.";
    return h("p", { class: "muted", id: "job-no-report" }, `No report. ${why}`);
  }
  const holder = h("div", { id: "job-report-holder" });
  const show = h("button", {
    id: "job-report-show",
    onclick: () => {
      show.remove();
      holder.append(h("iframe", { class: "report", id: "job-report", sandbox: "allow-scripts", src: `/api/jobs/${encodeURIComponent(id)}/report`, title: `Report of ${id}` }));
    },
  }, "Show the report");
  return h("div", {}, show, " ", h("a", { href: `/api/jobs/${encodeURIComponent(id)}/report`, target: "_blank", rel: "noopener" }, "open in a new tab"), holder);
}

route("/jobs/:id", async (main, { id }) => {
  let job = await api(`/jobs/${encodeURIComponent(id)}`);
  id = job.id;
  const status = h("span", { id: "job-status" }, badge(job.status));
  const factsBox = h("div", { id: "job-facts" });
  const failure = h("div", { id: "job-failure" });
  const reason = h("input", { id: "job-cancel-reason", placeholder: "why (kept in the audit log)" });
  const cancel = h("button", { class: "danger", id: "job-cancel" }, "Cancel job");
  const cancelBox = h("div", { class: "toolbar", id: "job-cancel-box", hidden: job.final || !can("scientist") }, reason, cancel);
  const metrics = h("div", { id: "job-metrics" });
  const logs = logView(id);
  const report = h("div", { id: "job-report-section" });
  let stopPolling = () => {};

  const drawFacts = () => {
    clear(status, badge(job.status));
    clear(factsBox, facts([
      ["Kind", job.kind],
      ["Status", badge(job.status)],
      ["Experiment", job.experiment ? link(`#/jobs?experiment=${encodeURIComponent(job.experiment)}`, job.experiment) : ""],
      ["Created", `${time(job.created_at)} by ${job.created_by}`],
      ["Started", time(job.started_at)],
      ["Ended", time(job.ended_at)],
      ["Duration", seconds(job.duration_seconds)],
      ["Started by", job.parent_id ? jobLink(job.parent_id) : "—"],
      ["Jobs it started", job.children ? link(`#/jobs?parent_id=${encodeURIComponent(id)}`, `${job.children} job${job.children === 1 ? "" : "s"}`) : "no other jobs"],
    ]));
    clear(failure, job.failure_reason ? [
      h("h2", {}, "Why it ended"),
      job.failure_code ? h("p", {}, "Error code ", h("span", { class: "mono", id: "job-failure-code" }, job.failure_code), job.failure_class ? ` (${job.failure_class})` : "") : null,
      h("pre", { class: "logs", id: "job-failure-reason" }, job.failure_reason),
    ] : null);
    cancelBox.hidden = job.final || !can("scientist");
  };
  const drawMetrics = async () => metricCharts(metrics, (await api(`/jobs/${encodeURIComponent(id)}/metrics`, { query: { max_points: 1000 } })).series);
  const refresh = async () => {
    const was = job.final;
    job = await api(`/jobs/${encodeURIComponent(id)}`);
    drawFacts();
    await drawMetrics();
    if (job.final && !was) {
      stopPolling();
      clear(report, reportView(id, job));
    }
  };
  cancel.addEventListener("click", () => act(cancel, () => api(`/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST", body: { reason: reason.value } }), "Cancel requested").then(refresh, refresh));

  drawFacts();
  main.append(
    h("h1", {}, "Job ", h("span", { class: "mono" }, id), " ", status),
    cancelBox,
    h("div", { class: "row" }, h("div", { class: "card" }, factsBox), h("div", { class: "card" }, h("h2", {}, "Metrics"), metrics)),
    failure,
    h("h2", {}, "Log"),
    logs.element,
    h("h2", {}, "Report"),
    report,
    h("details", { id: "job-spec" }, h("summary", {}, "Spec"), h("pre", { class: "mono" }, JSON.stringify(job.spec, null, 2))),
    h("details", { id: "job-result" }, h("summary", {}, "Result"), h("pre", { class: "mono" }, JSON.stringify(job.result, null, 2))),
  );
  clear(report, reportView(id, job));
  await Promise.all([logs.load(), drawMetrics().catch((error) => clear(metrics, errorBox(error)))]);
  if (!job.final) {
    stopPolling = every(2000, refresh);
    logs.follow(() => refresh());
  }
});
