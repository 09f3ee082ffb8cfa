// Studio pages: model groups, a group's versions, and a version (its card, success criteria,
// approvals, lineage), with approve / reject for approvers and deploy by strategy.
import { act, api, badge, can, clear, errorBox, facts, h, link, navigate, number, pagedTable, route, time } from "../kiln.js";

const STATUSES = [["PendingManualApproval", "Pending"], ["Approved", "Approved"], ["Rejected", "Rejected"], ["Archived", "Archived"]];
const enc = encodeURIComponent;

export function modelHref(ref) {
  const [group, version] = String(ref).split(":");
  return version ? `#/models/${enc(group)}/${enc(version)}` : `#/models/${enc(group)}`;
}

// The held-out value of the version's headline metric: test, else cv mean, validation, oof.
function heldOut(metrics, name) {
  for (const split of ["test", "cv_mean", "validation", "oof", "backtest"]) {
    const value = metrics && metrics[split] && metrics[split][name];
    if (value !== undefined && value !== null) return [split, value];
  }
  return [null, null];
}

// The metric columns a group's versions can be sorted by: SPLIT.METRIC of its latest version.
function metricKeys(metrics) {
  const keys = [];
  for (const [split, values] of Object.entries(metrics || {})) {
    if (!values || typeof values !== "object") continue;
    for (const [name, value] of Object.entries(values)) if (typeof value === "number") keys.push(`${split}.${name}`);
  }
  return keys;
}

route("/models", async (main) => {
  const algorithms = (await api("/models/algorithms")).algorithms;
  main.append(
    h("h1", {}, "Models"),
    h("p", { class: "muted" }, "Model groups and their versions. Approvers approve or reject versions; only Approved versions deploy where the workspace requires approval."),
    h("h2", {}, "Groups"),
    pagedTable({
      id: "model-groups",
      fetch: (params) => api("/models", { query: params }),
      filters: [{ name: "q", label: "Search groups", type: "text" }],
      columns: [
        { key: "name", label: "Group", sort: "name", render: (row) => link(`#/models/${enc(row.name)}`, row.name) },
        { key: "versions", label: "Versions", render: (row) => number(row.versions) },
        { key: "latest", label: "Latest", render: (row) => row.latest ? link(modelHref(row.latest.ref), row.latest.ref) : "" },
        { key: "status", label: "Its status", render: (row) => row.latest ? badge(row.latest.approval_status) : "" },
        { key: "algorithm", label: "Algorithm", render: (row) => row.latest ? row.latest.algorithm : "" },
        { key: "created_at", label: "Created", sort: "created_at", render: (row) => time(row.created_at) },
      ],
      empty: "No models yet: train one (Canvas, or 'kiln train').",
    }),
    h("h2", {}, "All versions"),
    pagedTable({
      id: "model-versions",
      sort: "-created_at",
      fetch: (params) => api("/models/versions", { query: params }),
      filters: [
        { name: "q", label: "Search", type: "text" },
        { name: "status", label: "Status", type: "select", options: STATUSES },
        { name: "algorithm", label: "Algorithm", type: "select", options: algorithms.map((a) => [a, a]) },
      ],
      columns: versionColumns(null, true),
    }),
  );
}, { nav: "models" });

function versionColumns(metric, withGroup) {
  const columns = [
    { key: "ref", label: "Version", sort: withGroup ? "group" : "version", render: (row) => link(modelHref(row.ref), row.ref) },
    { key: "approval_status", label: "Status", render: (row) => badge(row.approval_status) },
    { key: "algorithm", label: "Algorithm" },
    { key: "target", label: "Target" },
  ];
  if (metric) {
    columns.push({ key: metric, label: metric, sort: metric, render: (row) => {
      const [split, name] = metric.split(".");
      return number(row.metrics && row.metrics[split] && row.metrics[split][name]);
    } });
  } else {
    columns.push({ key: "metric", label: "Held-out metric", render: (row) => {
      const name = row.problem_type === "regression" ? "rmse" : "roc_auc";
      const [split, value] = heldOut(row.metrics, name);
      if (split) return `${name} ${number(value)} (${split})`;
      const [other, otherValue] = heldOut(row.metrics, "accuracy");
      return other ? `accuracy ${number(otherValue)} (${other})` : "";
    } });
  }
  columns.push(
    { key: "created_by", label: "By" },
    { key: "created_at", label: "Created", sort: "created_at", render: (row) => time(row.created_at) },
  );
  return columns;
}

route("/models/:group", async (main, { group }) => {
  const info = await api(`/models/${enc(group)}`);
  const keys = info.latest ? metricKeys(info.latest.metrics) : [];
  let metric = keys.find((k) => k === "test.roc_auc") || keys.find((k) => k.startsWith("test.")) || keys[0] || null;
  const holder = h("div");
  const pick = h("select", { id: "metric-column", "aria-label": "Metric column" }, keys.map((k) => h("option", { value: k, selected: k === metric }, k)));
  const draw = () => clear(holder, pagedTable({
    id: "group-versions",
    sort: "-version",
    fetch: (params) => api(`/models/${enc(group)}/versions`, { query: params }),
    filters: [{ name: "status", label: "Status", type: "select", options: STATUSES }, { name: "q", label: "Search", type: "text" }],
    columns: versionColumns(metric, false),
  }));
  pick.addEventListener("change", () => { metric = pick.value; draw(); });
  const aliases = Object.entries(info.aliases || {});
  main.append(
    h("p", {}, link("#/models", "Models"), " / "),
    h("h1", {}, group),
    h("div", { class: "card" }, facts([
      ["Versions", number(info.versions)],
      ["Latest", info.latest ? [link(modelHref(info.latest.ref), info.latest.ref), " ", badge(info.latest.approval_status)] : "none"],
      ["Aliases", aliases.length ? aliases.map(([alias, ref]) => h("span", { class: "mono alias" }, `${alias} → `, link(modelHref(ref), ref))) : "none"],
      ["Created", `${time(info.created_at)} by ${info.created_by}`],
    ])),
    h("h2", {}, "Versions"),
    keys.length ? h("div", { class: "toolbar" }, h("label", { for: "metric-column" }, "Metric column (sortable)"), pick) : null,
    holder,
  );
  draw();
}, { nav: "models" });

route("/models/:group/:version", async (main, { group, version }) => {
  const ref = `${group}:${version}`;
  const body = await api(`/models/${enc(group)}/${enc(version)}`);
  const v = body.version;
  const card = body.card;
  const dataLink = () => card.data_set ? link(`#/data/${card.data_set.split(":").map(enc).join("/")}`, card.data_set) : "none";
  const reload = () => navigate(`/models/${enc(group)}/${enc(version)}`);
  main.append(
    h("p", {}, link("#/models", "Models"), " / ", link(`#/models/${enc(group)}`, group), " / "),
    h("h1", {}, ref, " ", badge(v.approval_status)),
    h("div", { class: "row" },
      h("div", { class: "card", id: "version-facts" }, facts([
        ["Algorithm", v.algorithm],
        ["Problem type", v.problem_type],
        ["Target", v.target],
        ["Data set version", dataLink()],
        ["Training job", v.job_id ? link(`#/jobs/${enc(v.job_id)}`, v.job_id) : "none"],
        ["Created", `${time(v.created_at)} by ${v.created_by}`],
        ["Approval", v.approval_by ? `${v.approval_status} by ${v.approval_by}, ${time(v.approval_at)}${v.approval_reason ? `: ${v.approval_reason}` : ""}` : v.approval_status],
        ["Aliases", body.aliases.length ? body.aliases.join(", ") : "none"],
        ["Endpoints serving it", body.endpoints.length ? body.endpoints.map((name) => [link(`#/endpoints/${enc(name)}`, name), " "]) : "none"],
      ])),
      decisionCard(ref, v, reload),
    ),
    deployCard(ref, body),
    h("h2", {}, "Success criteria"),
    criteriaTable(card),
    h("h2", {}, "Metrics"),
    metricsTable(v.metrics),
    h("h2", {}, "Model card"),
    modelCard(card, dataLink),
    h("h2", {}, "Approval history"),
    approvalsTable(body.approvals),
    h("h2", {}, "Compiled forms"),
    compiledTable(v.compiled),
    h("h2", {}, "Lineage"),
    lineageView(group, version),
  );
}, { nav: "models" });

function decisionCard(ref, v, reload) {
  if (!can("approver")) {
    return h("div", { class: "card muted", id: "decision-note" }, "Approving and rejecting versions needs the approver role.");
  }
  const reason = h("textarea", { id: "decision-reason", rows: 2, placeholder: "Why (required to reject)" });
  const [group, version] = ref.split(":");
  const decide = (verb) => async (event) => {
    await act(event.target, () => api(`/models/${enc(group)}/${enc(version)}/${verb}`, { method: "POST", body: { reason: reason.value } }), `${ref} ${verb === "approve" ? "approved" : "rejected"}`);
    reload();
  };
  return h("div", { class: "card", id: "decision" },
    h("h2", {}, "Decision"),
    reason,
    h("div", { class: "toolbar" },
      h("button", { class: "primary", id: "approve-button", onclick: (e) => decide("approve")(e).catch(() => {}), disabled: v.approval_status === "Approved" }, "Approve"),
      h("button", { class: "danger", id: "reject-button", onclick: (e) => decide("reject")(e).catch(() => {}), disabled: v.approval_status === "Rejected" }, "Reject")));
}

// The strategy builder shared with the endpoint page: all-at-once, canary, linear, blue-green.
export function strategyInputs(prefix, initial = "canary") {
  const kind = h("select", { id: `${prefix}-strategy`, "aria-label": "Strategy" },
    [["all-at-once", "All at once"], ["canary", "Canary"], ["linear", "Linear"], ["blue-green", "Blue/green"]].map(([value, label]) => h("option", { value, selected: value === initial }, label)));
  const percent = h("input", { id: `${prefix}-percent`, type: "number", min: 1, max: 100, step: "any", value: 10, "aria-label": "Percent of traffic", class: "narrow" });
  const bake = h("input", { id: `${prefix}-bake`, value: "5m", "aria-label": "Bake time", class: "narrow" });
  const percentLabel = h("span", { class: "muted" }, "% of traffic, bake");
  const sync = () => {
    const stepped = kind.value === "canary" || kind.value === "linear";
    percent.hidden = percentLabel.hidden = !stepped;
    bake.hidden = kind.value === "all-at-once";
  };
  kind.addEventListener("change", sync);
  sync();
  const text = () => {
    if (kind.value === "all-at-once") return "all-at-once";
    if (kind.value === "blue-green") return bake.value ? `blue-green:${bake.value}` : "blue-green";
    return `${kind.value}:${percent.value}%:${bake.value}`;
  };
  return { nodes: [kind, percent, percentLabel, bake], text };
}

function deployCard(ref, body) {
  const role = body.require_approval ? "approver" : "scientist";
  if (!can(role)) return "";  // (main.append would write null as the text "null")
  const endpoint = h("input", { id: "deploy-endpoint", placeholder: "endpoint name", value: body.endpoints[0] || "" });
  const strategy = strategyInputs("deploy", body.endpoints.length ? "canary" : "all-at-once");
  const message = h("div");
  const submit = async (event) => {
    event.preventDefault();
    clear(message);
    try {
      const answer = await act(event.submitter, () => api(`/endpoints/${enc(endpoint.value)}/deploy`, { method: "POST", body: { model: ref, strategy: strategy.text() } }));
      navigate(`/endpoints/${enc(endpoint.value)}${answer.job ? "?job=" + enc(answer.job.id) : ""}`);
    } catch (error) {
      message.append(errorBox(error));
    }
  };
  return h("form", { class: "card", id: "deploy-form", onsubmit: submit },
    h("h2", {}, "Deploy"),
    h("div", { class: "toolbar" }, endpoint, ...strategy.nodes, h("button", { class: "primary", type: "submit", id: "deploy-submit" }, "Deploy")),
    message);
}

function criteriaTable(card) {
  const criteria = card.criteria;
  if (!criteria || !criteria.results || !criteria.results.length) {
    return h("p", { class: "muted", id: "criteria" }, "No success criteria were checked when this version was trained (kiln train --require, or a problem spec).");
  }
  return h("div", { id: "criteria" },
    h("p", {}, criteria.passed ? badge("passed", "ok") : badge("failed", "failed"), card.problem ? [" against problem ", h("span", { class: "mono" }, card.problem)] : ""),
    h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Criterion", "Kind", "On", "Value", "Threshold", "Result", "From"].map((t) => h("th", {}, t)))),
      h("tbody", {}, criteria.results.map((r) => h("tr", {},
        h("td", { class: "mono" }, r.criterion),
        h("td", {}, r.kind || ""),
        h("td", {}, r.split || ""),
        h("td", {}, r.value === null || r.value === undefined ? (r.note || "none") : number(r.value)),
        h("td", {}, r.op ? `${r.op} ${number(r.threshold)}` : number(r.threshold)),
        h("td", {}, r.passed ? badge("pass", "ok") : badge("fail", "failed")),
        h("td", {}, r.source || ""))))));
}

function metricsTable(metrics) {
  const splits = Object.keys(metrics || {}).filter((s) => metrics[s] && typeof metrics[s] === "object");
  if (!splits.length) return h("p", { class: "muted" }, "No metrics recorded.");
  const names = [...new Set(splits.flatMap((s) => Object.keys(metrics[s]).filter((n) => typeof metrics[s][n] === "number")))];
  return h("table", { class: "grid", id: "metrics" },
    h("thead", {}, h("tr", {}, h("th", {}, "Metric"), splits.map((s) => h("th", {}, s)))),
    h("tbody", {}, names.map((name) => h("tr", {}, h("td", {}, name), splits.map((s) => h("td", {}, number(metrics[s][name])))))));
}

function modelCard(card, dataLink) {
  const headline = card.headline_metric;
  return h("div", { class: "card", id: "model-card" },
    facts([
      ["Model", card.model],
      ["Predicts", `${card.target} (${card.problem_type})`],
      ["Trained on", dataLink()],
      ["Headline metric", headline ? `${headline.metric}: ${Object.entries(headline.values).map(([s, value]) => `${number(value)} (${s})`).join(", ")}` : "none"],
      ["Hyperparameters", h("span", { class: "mono" }, Object.keys(card.hyperparameters || {}).length ? JSON.stringify(card.hyperparameters) : "defaults")],
      ["Libraries", h("span", { class: "mono" }, Object.entries(card.library_versions || {}).map(([k, val]) => `${k} ${val}`).join(", "))],
      ["Outputs", h("span", { class: "mono" }, card.outputs ? JSON.stringify(card.outputs) : "")],
    ]),
    h("h3", {}, `Inputs (${card.inputs.length})`),
    h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", {}, "Column"), h("th", {}, "Type"), h("th", {}, "Categories"))),
      h("tbody", {}, card.inputs.map((c) => h("tr", {}, h("td", { class: "mono" }, c.name), h("td", {}, c.dtype), h("td", {}, c.categories || ""))))));
}

function approvalsTable(approvals) {
  if (!approvals.length) return h("p", { class: "muted", id: "approvals" }, "No decision yet: the version is pending approval.");
  return h("table", { class: "grid", id: "approvals" },
    h("thead", {}, h("tr", {}, ["When", "Decision", "By", "Why"].map((t) => h("th", {}, t)))),
    h("tbody", {}, approvals.slice().reverse().map((a) => h("tr", {}, h("td", {}, time(a.at)), h("td", {}, badge(a.status)), h("td", {}, a.by), h("td", {}, a.reason || "")))));
}

function compiledTable(compiled) {
  const forms = Object.entries(compiled || {});
  if (!forms.length) return h("p", { class: "muted", id: "compiled" }, "Not compiled ('kiln compile MODEL' makes an ONNX or native form that serves faster).");
  return h("table", { class: "grid", id: "compiled" },
    h("thead", {}, h("tr", {}, ["Target", "Serves", "Details"].map((t) => h("th", {}, t)))),
    h("tbody", {}, forms.map(([target, record]) => h("tr", {},
      h("td", {}, target),
      h("td", {}, record.serving === false ? "no" : "yes"),
      h("td", { class: "mono" }, JSON.stringify(Object.fromEntries(Object.entries(record).filter(([k]) => k !== "serving"))))))));
}

function nodeLink(node) {
  const label = node.label || node.id;
  if (node.kind === "dataset_version" && label.includes(":")) return link(`#/data/${label.split(":").map(enc).join("/")}`, label);
  if (node.kind === "job") return link(`#/jobs/${enc(node.id)}`, label);
  if (node.kind === "model_version") return link(modelHref(label), label);
  if (node.kind === "endpoint") return link(`#/endpoints/${enc(label)}`, label);
  return label;
}

function lineageView(group, version) {
  const holder = h("div", { id: "lineage" }, h("p", { class: "muted" }, "Loading…"));
  api(`/models/${enc(group)}/${enc(version)}/lineage`).then((graph) => {
    const levels = [...new Set(graph.nodes.map((n) => n.level))].sort((a, b) => a - b);
    clear(holder, h("div", { class: "lineage" }, levels.map((level) => h("div", { class: "lineage-level" },
      h("div", { class: "muted" }, level < 0 ? `${-level} step${level < -1 ? "s" : ""} upstream` : level > 0 ? `${level} step${level > 1 ? "s" : ""} downstream` : "this version"),
      graph.nodes.filter((n) => n.level === level).map((n) => h("div", { class: `lineage-node ${n.kind}` }, h("span", { class: "muted" }, n.kind.replace("_", " ")), " ", nodeLink(n)))))));
  }, (error) => clear(holder, errorBox(error)));
  return holder;
}
