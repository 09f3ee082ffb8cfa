// Studio pages: monitors and alarms — the monitors with their schedule and latest run, a
// monitor's runs, a run's violations, each drift statistic over time, and alarms with their
// events (see app.js for the frame).
import { act, api, badge, can, chart, clear, errorBox, facts, h, link, number, pagedTable, route, time, toast } from "../kiln.js";

const enc = encodeURIComponent;

function violationsCell(count) {
  if (count === null || count === undefined) return "";
  return h("span", { class: count ? "violations bad" : "violations" }, String(count));
}

route("/monitors", async (main) => {
  const [monitors, alarms] = await Promise.all([api("/monitors"), api("/alarms")]);
  const evaluate = h("button", { id: "alarms-evaluate", hidden: !can("scientist") }, "Evaluate alarms now");
  const alarmBody = h("div", { id: "alarms-table" });
  const drawAlarms = (items) => clear(alarmBody, items.length
    ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Alarm", "On", "When", "State", "Since", "Actions"].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((a) => h("tr", {},
        h("td", {}, link(`#/alarms/${enc(a.name)}`, a.name)),
        h("td", { class: "mono" }, a.source),
        h("td", { class: "mono" }, a.condition),
        h("td", {}, badge(a.state, `alarm-${a.state}`)),
        h("td", {}, time(a.state_changed_at)),
        h("td", { class: "mono" }, a.actions.join(", "))))))
    : h("p", { class: "muted" }, "No alarms. Create one with 'kiln alarms create'."));
  evaluate.addEventListener("click", () => act(evaluate, async () => {
    const result = await api("/alarms/evaluate", { method: "POST", body: {} });
    drawAlarms((await api("/alarms")).items);
    return result;
  }, "Alarms evaluated"));
  drawAlarms(alarms.items);
  main.append(
    h("h1", {}, "Monitors"),
    h("p", { class: "muted" }, "Checks of an endpoint's captured traffic on a schedule: data quality and drift, model quality, bias, attribution."),
    monitors.items.length
      ? h("table", { class: "grid", id: "monitors-table" },
        h("thead", {}, h("tr", {}, ["Monitor", "Endpoint", "Type", "Schedule", "Next run", "Last run", "Status", "Violations"].map((t) => h("th", {}, t)))),
        h("tbody", {}, monitors.items.map((m) => h("tr", {},
          h("td", {}, link(`#/monitors/${enc(m.name)}`, m.name)),
          h("td", {}, m.endpoint),
          h("td", {}, m.type),
          h("td", { class: "mono" }, m.schedule),
          h("td", {}, time(m.next_run_at)),
          h("td", {}, m.last_run ? time(m.last_run.started_at) : "never"),
          h("td", {}, m.last_run ? badge(m.last_run.status) : ""),
          h("td", {}, m.last_run ? violationsCell(m.last_run.violations) : "")))))
      : h("p", { class: "muted", id: "monitors-table" }, "No monitors. Create one with 'kiln monitor create'."),
    h("div", { class: "row" }, h("h2", {}, "Alarms"), h("div", { class: "toolbar right" }, evaluate)),
    alarmBody,
  );
});

// One chart per feature (its drift statistics as lines), and one of the run-level metrics.
function driftCharts(container, history) {
  const features = Object.keys(history.features).sort();
  if (!history.runs.length) return clear(container, h("p", { class: "muted" }, "No runs yet."));
  const headline = ["rows", "violations", "drift.num_cols"].filter((m) => history.metrics[m]);
  const boxes = [];
  const overall = h("div", { class: "chart small", id: "monitor-chart-overall" });
  boxes.push(h("div", { class: "card" }, h("h2", {}, "Rows, violations, drifted columns"), overall));
  const perFeature = features.map((feature) => {
    const element = h("div", { class: "chart small", dataset: { feature } });
    boxes.push(h("div", { class: "card" }, h("h2", { class: "mono" }, feature), element));
    return [feature, element];
  });
  clear(container, features.length ? null : h("p", { class: "muted" }, "This monitor records no drift statistics."), h("div", { class: "chart-grid" }, boxes));
  const layout = { height: 240, margin: { l: 45, r: 10, t: 30, b: 35 }, showlegend: true, legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" } };
  chart(overall, headline.map((m) => ({ type: "scatter", mode: "lines+markers", name: m, x: history.times, y: history.metrics[m] })), layout);
  for (const [feature, element] of perFeature) {
    const stats = history.features[feature];
    chart(element, Object.keys(stats).sort().map((stat) => ({ type: "scatter", mode: "lines+markers", name: stat, x: history.times, y: stats[stat] })), layout);
  }
}

// A violation's observed and expected values: text as it is, numbers by name, rounded.
function shown(value) {
  if (value && typeof value === "object") return Object.entries(value).map(([k, v]) => `${k} ${number(v, 3)}`).join(", ");
  return number(value, 4);
}

function violationTable(violations) {
  if (!violations.length) return h("p", { class: "muted" }, "No violations.");
  const keys = ["column", "check", "observed", "expected"].filter((k) => violations.some((v) => k in v));
  return h("table", { class: "grid", id: "run-violations" },
    h("thead", {}, h("tr", {}, keys.map((k) => h("th", {}, k)))),
    h("tbody", {}, violations.map((v) => h("tr", {}, keys.map((k) => h("td", {}, shown(v[k])))))));
}

async function showRun(panel, runId) {
  const run = await api(`/monitor-runs/${enc(runId)}`);
  clear(panel,
    h("h2", {}, "Run ", h("span", { class: "mono" }, run.id), " ", badge(run.status)),
    facts([
      ["Started", time(run.started_at)],
      ["Window", run.window_start ? `${time(run.window_start)} – ${time(run.window_end)}` : "—"],
      ["Job", run.job_id ? link(`#/jobs/${enc(run.job_id)}`, run.job_id) : "—"],
      ["Rows", number(run.metrics.rows)],
      run.failure_reason ? ["Failure", run.failure_reason] : null,
      run.summary && run.summary.reason ? ["Note", run.summary.reason] : null,
    ]),
    h("h2", {}, `Violations (${run.violations.length})`),
    violationTable(run.violations),
    h("p", {}, h("button", {
      id: "run-report-show",
      onclick: (event) => event.target.replaceWith(h("iframe", { class: "report", id: "run-report", sandbox: "allow-scripts", src: `/api/monitor-runs/${enc(run.id)}/report`, title: `Report of ${run.id}` })),
    }, "Show the run's report"), " ", h("a", { href: `/api/monitor-runs/${enc(run.id)}/report`, target: "_blank", rel: "noopener" }, "open in a new tab")));
  panel.scrollIntoView({ block: "nearest" });
}

route("/monitors/:name", async (main, { name }) => {
  const monitor = await api(`/monitors/${enc(name)}`);
  const charts = h("div", { id: "monitor-drift" });
  const panel = h("div", { class: "card", id: "run-detail" }, h("p", { class: "muted" }, "Pick a run to see its violations."));
  const runNow = h("button", { class: "primary", id: "monitor-run-now", hidden: !can("scientist") }, "Run now");
  const drawCharts = async () => driftCharts(charts, await api(`/monitors/${enc(name)}/history`));
  const runs = pagedTable({
    id: "monitor-runs",
    sort: "-started_at",
    pageSize: 20,
    fetch: (params) => api(`/monitors/${enc(name)}/runs`, { query: params }),
    filters: [{ name: "status", label: "Status", type: "select", options: [["Completed", "Completed"], ["NoData", "NoData"], ["Failed", "Failed"]] }],
    columns: [
      { key: "started_at", label: "Started", sort: "started_at", render: (row) => time(row.started_at) },
      { key: "status", label: "Status", sort: "status", render: (row) => badge(row.status) },
      { key: "window_end", label: "Window end", render: (row) => time(row.window_end) },
      { key: "violations", label: "Violations", render: (row) => violationsCell(row.violations) },
      { key: "job_id", label: "Job", render: (row) => (row.job_id ? link(`#/jobs/${enc(row.job_id)}`, row.job_id) : "") },
      { key: "id", label: "", render: (row) => h("button", { class: "run-show", dataset: { run: row.id }, onclick: () => showRun(panel, row.id).catch((e) => clear(panel, errorBox(e))) }, "Violations") },
    ],
    empty: "No runs yet.",
  });
  runNow.addEventListener("click", () => act(runNow, async () => {
    const started = await api(`/monitors/${enc(name)}/run`, { method: "POST", body: {} });
    toast(`Started job ${started.job_id}`);
    runNow.dataset.job = started.job_id;
    for (let i = 0; i < 120; i++) {
      const job = await api(`/jobs/${enc(started.job_id)}`);
      if (job.final) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    runs.reload();
    await drawCharts();
  }));
  main.append(
    h("h1", {}, "Monitor ", h("span", { class: "mono" }, monitor.name)),
    h("div", { class: "toolbar" }, runNow),
    h("div", { class: "card" }, facts([
      ["Endpoint", link(`#/endpoints/${enc(monitor.endpoint)}`, monitor.endpoint)],
      ["Type", monitor.type],
      ["Schedule", h("span", { class: "mono" }, monitor.schedule)],
      ["Window", `${number(monitor.window_seconds / 3600, 3)} h, ending ${number(monitor.offset_seconds, 3)} s before the run`],
      ["Baseline", monitor.baseline_id || "—"],
      ["Created", `${time(monitor.created_at)} by ${monitor.created_by}`],
    ])),
    h("h2", {}, "Runs"),
    runs,
    panel,
    h("h2", {}, "Over time"),
    charts,
  );
  await drawCharts();
}, { nav: "monitors" });

route("/alarms/:name", async (main, { name }) => {
  const alarm = await api(`/alarms/${enc(name)}`);
  main.append(
    h("h1", {}, "Alarm ", h("span", { class: "mono" }, alarm.name), " ", h("span", { id: "alarm-state" }, badge(alarm.state, `alarm-${alarm.state}`))),
    h("div", { class: "card" }, facts([
      ["On", h("span", { class: "mono" }, alarm.source)],
      ["When", h("span", { class: "mono" }, alarm.condition)],
      ["Actions", alarm.actions.join(", ")],
      ["State since", time(alarm.state_changed_at)],
      ["Created", `${time(alarm.created_at)} by ${alarm.created_by}`],
    ])),
    h("h2", {}, "Events"),
    pagedTable({
      id: "alarm-events",
      fetch: (params) => api(`/alarms/${enc(name)}/events`, { query: params }),
      columns: [
        { key: "time", label: "When", render: (row) => time(row.time) },
        { key: "old_state", label: "From", render: (row) => badge(row.old_state, `alarm-${row.old_state}`) },
        { key: "new_state", label: "To", render: (row) => badge(row.new_state, `alarm-${row.new_state}`) },
        { key: "evidence", label: "Evidence", render: (row) => h("span", { class: "mono" }, JSON.stringify(row.evidence)) },
        { key: "actions", label: "Actions taken", render: (row) => row.actions.map((a) => `${a.action}: ${a.outcome}`).join("; ") },
      ],
      empty: "No state changes yet.",
    }),
  );
}, { nav: "monitors" });
