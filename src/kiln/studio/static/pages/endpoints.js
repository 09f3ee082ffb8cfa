// Studio pages: endpoints, and an endpoint's variants and weights, live metrics, deployment
// history and timeline, rollback, canary / guarded deploys, shadow report and configuration.
import { act, ago, api, badge, can, chart, clear, errorBox, every, facts, h, link, number, pagedTable, route, time } from "../kiln.js";
import { modelHref, strategyInputs } from "./models.js";

const enc = encodeURIComponent;

function percent(share) {
  return `${Math.round(share * 1000) / 10}%`;
}

function configBadges(endpoint) {
  const config = endpoint.config || {};
  return [
    Object.keys(config).map((section) => [badge(section.replace("_", "-"), "config"), " "]),
    endpoint.capture && endpoint.capture.percent ? badge(`capture ${endpoint.capture.percent}%`, "config") : null,
  ];
}

function statusBadge(endpoint) {
  return endpoint.active_deployment ? badge("Updating") : badge("InService");
}

route("/endpoints", async (main) => {
  main.append(
    h("h1", {}, "Endpoints"),
    h("p", { class: "muted" }, "What each endpoint serves. 'kiln serve' answers them; changes made here reach a running server within a second."),
    pagedTable({
      id: "endpoints-table",
      fetch: (params) => api("/endpoints", { query: params }),
      filters: [{ name: "q", label: "Search endpoints", type: "text" }],
      columns: [
        { key: "name", label: "Endpoint", sort: "name", render: (row) => link(`#/endpoints/${enc(row.name)}`, row.name) },
        { key: "status", label: "Status", render: statusBadge },
        { key: "models", label: "Live models", render: (row) => row.config && row.config.multi_model ? h("span", { class: "muted" }, "multi-model") : (row.variants || []).filter((v) => (v.role || "live") === "live").map((v) => h("div", {}, link(modelHref(v.model), v.model), h("span", { class: "muted" }, ` ${v.name} · ${percent(row.shares[v.name] || 0)}`))) },
        { key: "shadow", label: "Shadow", render: (row) => (row.variants || []).filter((v) => v.role === "shadow").map((v) => link(modelHref(v.model), v.model)) },
        { key: "revision", label: "Revision", sort: "revision" },
        { key: "config", label: "Options", render: configBadges },
        { key: "updated_at", label: "Changed", sort: "updated_at", render: (row) => ago(row.updated_at) },
      ],
      empty: "No endpoints yet: deploy a model version from its page, or 'kiln deploy'.",
    }),
  );
}, { nav: "endpoints" });

route("/endpoints/:name", async (main, { name }, query) => {
  const base = `/endpoints/${enc(name)}`;
  let [info, health] = await Promise.all([api(base), api(`${base}/health`)]);
  const mayDeploy = () => can(info.deploy_role);
  const header = h("div");
  const variantsBox = h("div", { id: "variants" });
  const actions = h("div");
  const configBox = h("div", { id: "configuration" });
  const shadowBox = h("div", { id: "shadow" });
  const charts = {
    invocations: h("div", { class: "chart", id: "chart-invocations" }),
    latency: h("div", { class: "chart", id: "chart-latency" }),
    errors: h("div", { class: "chart", id: "chart-errors" }),
  };
  const totals = h("div", { id: "metric-totals" });
  const timeline = h("div", { class: "chart", id: "chart-timeline" });
  const scalingBox = h("div", { id: "scaling" });
  const qualityBox = h("div", { id: "quality" });
  const history = pagedTable({
    id: "history-table",
    pageSize: 20,
    sort: "-revision",
    fetch: async (params) => {
      const page = await api(`${base}/history`, { query: params });
      drawTimeline(page.items);
      return page;
    },
    columns: [
      { key: "revision", label: "Revision", sort: "revision" },
      { key: "created_at", label: "When", render: (row) => time(row.created_at) },
      { key: "created_by", label: "By" },
      { key: "variants", label: "Variants", render: (row) => row.variants.map((v) => h("div", { class: "mono" }, `${v.name}: ${v.model} ${v.role === "shadow" ? "(shadow)" : `w=${number(v.weight)}`}`)) },
      { key: "strategy", label: "Strategy", render: (row) => row.strategy || "" },
      { key: "outcome", label: "Outcome", render: (row) => row.outcome ? badge(row.outcome, row.outcome === "completed" ? "ok" : "failed") : "" },
      { key: "note", label: "Note", render: (row) => [row.note || "", row.job ? [" ", link(`#/jobs/${enc(row.job)}`, row.job)] : ""] },
      { key: "rollback", label: "", render: (row) => row.revision < info.endpoint.revision && mayDeploy() && !info.endpoint.config.multi_model ? h("button", { class: "rollback-to", dataset: { revision: row.revision }, onclick: (e) => rollback(e.target, row.revision) }, `Roll back to ${row.revision}`) : "" },
    ],
  });

  function drawTimeline(revisions) {
    const ordered = revisions.slice().sort((a, b) => a.revision - b.revision);
    const names = [...new Set(ordered.flatMap((r) => r.variants.filter((v) => (v.role || "live") === "live").map((v) => v.name)))];
    const share = (r, n) => {
      const live = r.variants.filter((v) => (v.role || "live") === "live");
      const total = live.reduce((sum, v) => sum + v.weight, 0) || 1;
      const mine = live.find((v) => v.name === n);
      return mine ? (100 * mine.weight) / total : 0;
    };
    chart(timeline, names.map((n) => ({
      x: ordered.map((r) => r.created_at), y: ordered.map((r) => share(r, n)), name: n, type: "scatter", mode: "lines+markers", line: { shape: "hv" },
      text: ordered.map((r) => `revision ${r.revision}`),
    })), { title: { text: "Traffic share by revision (%)", font: { size: 13 } }, yaxis: { range: [0, 105] }, height: 260 });
  }

  async function rollback(button, revision) {
    await act(button, () => api(`${base}/rollback`, { method: "POST", body: { to: revision } }), `Rolled back to revision ${revision}`).catch(() => {});
    await refresh(true);
  }

  function drawHeader() {
    const e = info.endpoint;
    clear(header,
      h("p", {}, link("#/endpoints", "Endpoints"), " / "),
      h("h1", {}, name, " ", statusBadge(e), " ", health.status === "ready" ? badge("ready", "ok") : badge(health.status, "failed")),
      health.reason ? errorBox(health.reason) : null,
      e.active_deployment ? h("p", { class: "card", id: "active-deployment" }, "A guarded deployment is moving traffic: ", link(`#/jobs/${enc(e.active_deployment)}`, e.active_deployment), ". Each step shows in the history below.") : null,
      h("div", { class: "card" }, facts([
        ["Revision", String(e.revision)],
        ["Serves", e.model ? link(modelHref(e.model), e.model) : "any model a request names (multi-model)"],
        ["Created", `${time(e.created_at)} by ${e.created_by}`],
        ["Changed", time(e.updated_at)],
      ])));
  }

  function drawVariants() {
    const e = info.endpoint;
    if (e.config.multi_model) return clear(variantsBox, h("p", { class: "muted" }, "A multi-model endpoint has no variants: it loads the models requests name."));
    const inputs = {};
    const rows = e.variants.map((v) => {
      const live = (v.role || "live") === "live";
      if (live) inputs[v.name] = h("input", { type: "number", min: 0, step: "any", value: v.weight, class: "narrow weight-input", "aria-label": `Weight of ${v.name}`, disabled: !mayDeploy() || !!e.active_deployment });
      return h("tr", { dataset: { variant: v.name } },
        h("td", {}, v.name),
        h("td", {}, badge(live ? "live" : "shadow", live ? "live" : "")),
        h("td", {}, link(modelHref(v.model), v.model), " ", badge(v.approval_status || "")),
        h("td", {}, live ? inputs[v.name] : `sample ${percent(v.sample ?? 1)}`),
        h("td", {}, live ? percent(e.shares[v.name] || 0) : ""),
        h("td", {}, !live && mayDeploy() ? h("button", { id: "promote-button", onclick: (ev) => act(ev.target, () => api(`${base}/promote`, { method: "POST", body: { variant: v.name } }), `${v.name} is live`).then(() => refresh(true), () => {}) }, "Promote") : ""));
    });
    const save = h("button", { id: "weights-save", onclick: (ev) => act(ev.target, () => api(`${base}/weights`, { method: "POST", body: { weights: Object.fromEntries(Object.entries(inputs).map(([k, input]) => [k, Number(input.value)])) } }), "Weights saved").then(() => refresh(true), () => {}) }, "Save weights");
    clear(variantsBox,
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Variant", "Role", "Model", "Weight", "Share", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)),
      mayDeploy() && !e.active_deployment && Object.keys(inputs).length > 1 ? h("div", { class: "toolbar" }, save) : null);
  }

  function drawActions() {
    const e = info.endpoint;
    if (!mayDeploy()) {
      return clear(actions, h("p", { class: "muted", id: "deploy-note" }, `Deploying, canaries and rollbacks here need the ${info.deploy_role} role${info.require_approval ? " (this workspace requires approval)" : ""}.`));
    }
    if (e.config.multi_model) return clear(actions);
    const model = h("input", { id: "canary-model", placeholder: "GROUP:VERSION", "aria-label": "Model version" });
    const strategy = strategyInputs("canary", "canary");
    const message = h("div");
    const submit = async (event) => {
      event.preventDefault();
      clear(message);
      try {
        const answer = await act(event.submitter, () => api(`${base}/deploy`, { method: "POST", body: { model: model.value.trim(), strategy: strategy.text() } }), "Deployment started");
        if (answer.job) message.append(h("p", { class: "muted" }, "Deployment job ", link(`#/jobs/${enc(answer.job.id)}`, answer.job.id), " is moving traffic."));
        await refresh(true);
      } catch (error) {
        message.append(errorBox(error));
      }
    };
    const revisions = Array.from({ length: Math.max(0, e.revision - 1) }, (_, i) => e.revision - 1 - i);
    const target = h("select", { id: "rollback-revision", "aria-label": "Revision to roll back to" }, revisions.map((r) => h("option", { value: r }, `revision ${r}`)));
    clear(actions, h("div", { class: "row" },
      h("form", { class: "card", id: "canary-form", onsubmit: submit },
        h("h2", {}, "Deploy a new version"),
        h("p", { class: "muted" }, "A canary sends a small share of traffic to the new model, bakes, then moves the rest; its alarms roll it back by themselves."),
        h("div", { class: "toolbar" }, model, ...strategy.nodes, h("button", { class: "primary", type: "submit", id: "canary-submit", disabled: !!e.active_deployment }, "Start")),
        message),
      h("div", { class: "card", id: "rollback" },
        h("h2", {}, "Roll back"),
        revisions.length
          ? h("div", { class: "toolbar" }, target, h("button", { id: "rollback-submit", class: "danger", disabled: !!e.active_deployment, onclick: (ev) => rollback(ev.target, Number(target.value)) }, "Roll back"))
          : h("p", { class: "muted" }, "No earlier revision."))));
  }

  function drawConfig() {
    const e = info.endpoint;
    const sections = Object.entries(e.config || {});
    const capture = e.capture && e.capture.percent ? `${e.capture.percent}% of requests, as ${e.capture.format}` : "off";
    clear(configBox, h("div", { class: "card" }, facts([
      ["Data capture", capture],
      ...sections.map(([section, value]) => [section.replace("_", "-"), h("span", { class: "mono" }, Object.entries(value || {}).map(([k, val]) => `${k}=${typeof val === "object" ? JSON.stringify(val) : val}`).join(", "))]),
      sections.length ? null : ["Inference options", "real-time (no serverless, autoscaling, async or multi-model settings)"],
    ])));
    const shadow = e.variants.find((v) => v.role === "shadow");
    clear(shadowBox, shadow
      ? [h("h2", {}, `Shadow test: ${shadow.name} (${shadow.model})`), h("iframe", { class: "report", id: "shadow-report", sandbox: "allow-scripts", title: "Shadow report", src: `/api${base}/shadow-report` })]
      : null);
  }

  async function drawQuality(button) {
    if (info.endpoint.config.multi_model) return clear(qualityBox);
    const body = await act(button, () => api(`${base}/compare`));
    const variants = Object.entries(body.quality.variants || {});
    const metric = body.quality.metric;
    const refresh = h("button", { id: "quality-refresh", onclick: (e) => drawQuality(e.target).catch(() => {}) }, "Compare again");
    if (!variants.length) {
      return clear(qualityBox, h("p", { class: "muted" }, "No captured predictions with ground truth yet: turn on data capture and upload labels ('kiln endpoints ground-truth') to compare the variants' quality. ", refresh));
    }
    const differences = Object.fromEntries((body.quality.differences || []).map((d) => [d.variant, d]));
    clear(qualityBox,
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Variant", "Labelled rows", metric, `Difference (95% interval)`].map((t) => h("th", {}, t)))),
        h("tbody", {}, variants.map(([variant, q]) => {
          const d = differences[variant];
          return h("tr", {}, h("td", {}, variant), h("td", {}, number(q.labelled_rows)), h("td", {}, number(q[metric])),
            h("td", {}, d ? [`${number(d.difference)} vs ${d.against} [${number(d.ci95[0])}, ${number(d.ci95[1])}] `, d.significant ? badge("significant", "ok") : badge("within noise")] : ""));
        }))),
      h("div", { class: "toolbar" }, refresh));
  }

  async function drawScaling() {
    const scaling = await api(`${base}/scaling`);
    const backlog = scaling.async_backlog;
    clear(scalingBox,
      backlog || scaling.async_recent.length ? h("div", { class: "card", id: "async-queue" }, h("h3", {}, "Asynchronous queue"), facts([
        ["Pending", String(backlog ? backlog.pending : 0)],
        ["In progress", String(backlog ? backlog.in_progress : 0)],
        ["Oldest pending", backlog && backlog.oldest_pending_seconds ? `${number(backlog.oldest_pending_seconds)} s` : ""],
        ["Recent", scaling.async_recent.map((i) => h("div", { class: "mono" }, `${i.id} `, badge(i.status), ` ${ago(i.created_at)}`))],
      ])) : null,
      scaling.events.length
        ? h("table", { class: "grid", id: "scaling-events" },
          h("thead", {}, h("tr", {}, ["When", "Action", "Before → after", "Why"].map((t) => h("th", {}, t)))),
          h("tbody", {}, scaling.events.slice().reverse().map((ev) => h("tr", {}, h("td", {}, time(ev.at)), h("td", {}, ev.action), h("td", {}, `${ev.before} → ${ev.after}`), h("td", {}, ev.reason, ev.metric ? h("span", { class: "muted" }, ` (${ev.metric} ${number(ev.value)})`) : "")))))
        : h("p", { class: "muted" }, "No scaling events (workers added or removed, models unloaded) recorded."));
  }

  async function drawMetrics() {
    const body = await api(`${base}/metrics`, { query: { seconds: 900, step: 30 } });
    const variants = Object.entries(body.variants);
    const trace = (field) => variants.map(([variant, points]) => ({ x: points.map((p) => p.at), y: points.map((p) => p[field]), name: variant, type: "scatter", mode: "lines+markers" }));
    const layout = (title) => ({ title: { text: title, font: { size: 13 } }, height: 240, xaxis: { type: "date", range: [body.start, new Date().toISOString()] }, yaxis: { rangemode: "tozero" } });
    chart(charts.invocations, trace("invocations"), layout("Invocations per 30 s"));
    chart(charts.latency, trace("p99_ms"), layout("Model latency p99 (ms)"));
    chart(charts.errors, trace("errors"), layout("Errors per 30 s"));
    const rows = Object.values(body.totals);
    clear(totals, rows.length
      ? h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Variant (last 15 min)", "Role", "Invocations", "Error rate", "p50 ms", "p99 ms"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows.map((s) => h("tr", {}, h("td", {}, s.variant), h("td", {}, s.role), h("td", {}, number(s.invocations)), h("td", {}, percent(s.error_rate)), h("td", {}, number(s.latency_ms.model.p50)), h("td", {}, number(s.latency_ms.model.p99))))))
      : h("p", { class: "muted" }, "No requests in the last 15 minutes: the charts fill as 'kiln serve' answers requests."));
  }

  async function refresh(force = false) {
    const fresh = await api(base);
    const changed = force || fresh.endpoint.revision !== info.endpoint.revision || fresh.endpoint.active_deployment !== info.endpoint.active_deployment;
    info = fresh;
    if (!changed) return;
    health = await api(`${base}/health`);
    drawHeader();
    drawVariants();
    drawActions();
    drawConfig();
    history.reload();
  }

  main.append(
    header,
    h("h2", {}, "Variants and weights"),
    variantsBox,
    actions,
    h("h2", {}, "Live metrics"),
    h("div", { class: "row" }, charts.invocations, charts.latency, charts.errors),
    totals,
    h("h2", {}, "Model quality by variant"),
    qualityBox,
    h("h2", {}, "Deployment history"),
    timeline,
    history,
    h("h2", {}, "Configuration"),
    configBox,
    shadowBox,
    h("h2", {}, "Scaling and queue"),
    scalingBox,
  );
  drawHeader();
  drawVariants();
  drawActions();
  drawConfig();
  await Promise.all([drawScaling(), drawQuality(null)]);
  // Live: the metrics every 5 s; the endpoint every 2 s, redrawn when its revision moves (a
  // canary's steps). Both stop when the page is left.
  every(5000, drawMetrics);
  every(2000, () => refresh(false));
  if (query.get("job")) actions.prepend(h("p", { class: "card", id: "started-job" }, "Deployment job ", link(`#/jobs/${enc(query.get("job"))}`, query.get("job")), " started."));
}, { nav: "endpoints" });
