// Canvas: the no-code path from a CSV to predictions, one card per step: the data (upload a
// file, or pick a data set), the target (its profile's warnings), AutoML with live progress, the
// leaderboard and what mattered, deploy, predict one row, and batch-score a file to download.
// Each step calls the Studio API, which calls the SDK as the CLI does.
import { api, ApiError, badge, can, chart, clear, errorBox, every, facts, h, link, number, route, toast } from "../kiln.js";

const FINAL = ["Completed", "Failed", "Stopped"];

function step(id, number_, title, ...children) {
  return h("section", { class: "card canvas-step", id },
    h("h2", {}, h("span", { class: "canvas-number" }, number_), title), ...children);
}

function seconds(value) {
  return `${Math.round(value ?? 0)} s`;
}

// Loads the whole page for a data set, a running job, or neither (query: data=, job=).
route("/canvas", async (main, _params, query) => {
  const state = { dataset: null, target: null, job: null, result: null, endpoint: null };
  const scientist = can("scientist");
  const cards = {
    data: h("div"), target: h("div"), progress: h("div"), result: h("div"),
    deploy: h("div"), predict: h("div"), batch: h("div"),
  };
  main.append(
    h("h1", {}, "Canvas"),
    h("p", { class: "muted" }, "From a CSV to predictions without code: upload a table, choose the column to predict, let AutoML search within a time limit, deploy the best model, then predict one row or a whole file."),
    ...(scientist ? [] : [errorBox("Canvas runs AutoML, deploys and scores: it needs the scientist role. You can look at the data sets and jobs, but not start anything.")]),
    h("div", { class: "canvas-steps" }, Object.values(cards)),
  );

  // -- 1. the data ----------------------------------------------------------------------------
  function renderData() {
    const message = h("div", { id: "canvas-data-error" });
    const file = h("input", { id: "canvas-file", type: "file", accept: ".csv,.tsv,.txt,.parquet,.jsonl,.json" });
    const name = h("input", { id: "canvas-name", placeholder: "data set name" });
    file.addEventListener("change", () => {
      const chosen = file.files[0];
      if (chosen && !name.value) name.value = chosen.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^[^A-Za-z0-9_]+/, "");
    });
    const uploadButton = h("button", { id: "canvas-upload", class: "primary", type: "submit", disabled: !scientist }, "Upload and ingest");
    const upload = async (event) => {
      event.preventDefault();
      clear(message);
      const chosen = file.files[0];
      if (!chosen) return message.append(errorBox("Choose a file first."));
      uploadButton.disabled = true;
      uploadButton.textContent = "Uploading…";
      try {
        const version = await api("/uploads", { method: "POST", body: chosen, query: { name: name.value || "canvas", filename: chosen.name } });
        toast(`Ingested ${version.ref}: ${version.row_count.toLocaleString()} rows`);
        await chooseDataset(version.ref);
        await fill();
        select.value = version.ref;
      } catch (error) {
        message.append(errorBox(error));
      } finally {
        uploadButton.disabled = !scientist;
        uploadButton.textContent = "Upload and ingest";
      }
    };
    const search = h("input", { id: "canvas-dataset-search", type: "search", placeholder: "find a data set", "aria-label": "Find a data set" });
    const select = h("select", { id: "canvas-dataset", "aria-label": "Data set" });
    const more = h("span", { class: "muted", id: "canvas-dataset-count" });
    let timer;
    const fill = async () => {
      const page = await api("/canvas/datasets", { query: { q: search.value, sort: "-created_at", limit: 100 } });
      clear(select, h("option", { value: "" }, page.total ? "choose a data set…" : "no data sets yet"),
        page.items.map((d) => h("option", { value: d.ref }, `${d.ref} — ${d.row_count.toLocaleString()} rows, ${d.column_count} columns`)));
      more.textContent = page.total > page.items.length ? `${page.items.length} of ${page.total}: search to narrow` : "";
    };
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => fill().catch((e) => clear(message, errorBox(e))), 250); });
    const use = h("button", { id: "canvas-use", type: "button", onclick: () => select.value && chooseDataset(select.value).catch((e) => clear(message, errorBox(e))) }, "Use this data set");
    clear(cards.data, step("canvas-data", 1, "Data",
      h("form", { class: "toolbar", id: "canvas-upload-form", onsubmit: upload }, file, name, uploadButton),
      h("div", { class: "toolbar" }, h("span", { class: "muted" }, "or start from a data set in the lake:"), search, select, use, more),
      message));
    fill().catch((e) => clear(message, errorBox(e)));
  }

  // -- 2. the target --------------------------------------------------------------------------
  async function chooseDataset(ref) {
    const answer = await api(`/canvas/datasets/${encodeURIComponent(ref)}/columns`);
    state.dataset = answer.dataset;
    for (const key of ["progress", "result", "deploy", "predict", "batch"]) clear(cards[key]);
    const message = h("div", { id: "canvas-target-error" });
    const details = h("div", { id: "canvas-target-facts" });
    const column = h("select", { id: "canvas-target-column", "aria-label": "Target column" },
      h("option", { value: "" }, "the column to predict…"),
      answer.columns.map((c) => h("option", { value: c.name }, `${c.name} (${c.type})`)));
    const limit = h("input", { id: "canvas-time-limit", type: "number", min: 10, step: 5, value: 60, "aria-label": "Time limit in seconds" });
    const start = h("button", { id: "canvas-start", class: "primary", disabled: true }, "Start AutoML");
    column.addEventListener("change", async () => {
      clear(message); clear(details);
      start.disabled = true;
      if (!column.value) return;
      details.append(h("p", { class: "muted" }, "Checking the target and profiling the data…"));
      try {
        const checked = await api(`/canvas/datasets/${encodeURIComponent(ref)}/columns`, { query: { target: column.value } });
        if (column.value !== checked.target) return; // another column was chosen meanwhile
        state.target = checked.target;
        renderTarget(details, checked);
        start.disabled = !scientist;
      } catch (error) {
        clear(details);
        message.append(errorBox(error));
      }
    });
    start.addEventListener("click", async () => {
      clear(message);
      start.disabled = true;
      try {
        const started = await api("/canvas/automl", { method: "POST", body: { data: state.dataset.ref, target: state.target, time_limit: Number(limit.value) } });
        history.replaceState(null, "", `#/canvas?job=${encodeURIComponent(started.job)}`);
        watch(started.job);
      } catch (error) {
        message.append(errorBox(error));
        start.disabled = false;
      }
    });
    clear(cards.target, step("canvas-target", 2, "Target",
      facts([
        ["Data set", link(`#/data/${encodeURIComponent(state.dataset.name)}/${state.dataset.version}`, state.dataset.ref)],
        ["Rows", number(state.dataset.row_count)],
        ["Columns", answer.columns.map((c) => h("span", { class: "canvas-column" }, c.name, " ", h("span", { class: "muted" }, c.type))) ],
      ]),
      h("div", { class: "toolbar" }, column, h("label", { for: "canvas-time-limit", class: "inline" }, "Time limit (s)"), limit, start),
      message, details));
    cards.target.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function renderTarget(element, checked) {
    const summary = checked.target_summary || {};
    const classes = (summary.classes || []).map((c) => `${c.value}: ${c.count.toLocaleString()} (${c.pct} %)`).join(", ");
    const mine = (w) => (w.columns || []).includes(checked.target);
    const warnings = [...checked.warnings].sort((a, b) => mine(b) - mine(a));
    clear(element,
      facts([
        ["Problem", checked.problem_type],
        classes ? ["Classes", classes] : null,
        summary.missing ? ["Missing targets", `${summary.missing} rows (dropped)`] : null,
      ]),
      h("h3", {}, "Warnings from the profile"),
      warnings.length
        ? h("ul", { id: "canvas-warnings" }, warnings.map((w) => h("li", { class: mine(w) ? "about-target" : "" }, badge(w.kind), " ", w.message)))
        : h("p", { id: "canvas-warnings", class: "muted" }, "No warnings: no constant columns, missing values, leakage or imbalance found."));
  }

  // -- 3. progress ----------------------------------------------------------------------------
  function watch(jobId) {
    state.job = jobId;
    for (const key of ["result", "deploy", "predict", "batch"]) clear(cards[key]);
    const status = h("span", { id: "canvas-status" });
    const meter = h("div", { class: "canvas-meter" }, h("div", { class: "canvas-meter-fill" }));
    const numbers = h("div", { id: "canvas-progress-facts" });
    const log = h("pre", { class: "logs", id: "canvas-log" });
    const plot = h("div", { class: "chart canvas-trials", id: "canvas-trials" });
    let plotted = -1;
    clear(cards.progress, step("canvas-progress", 3, "AutoML", h("div", { class: "toolbar" }, status, " ", link(`#/jobs/${encodeURIComponent(jobId)}`, jobId)), meter,
      h("div", { class: "row" }, numbers, plot), log));
    const problem = h("div", { id: "canvas-progress-error" });
    cards.progress.querySelector("section").append(problem);
    const stop = every(1000, async () => {
      let progress;
      try {
        progress = await api(`/canvas/automl/${encodeURIComponent(jobId)}`);
      } catch (error) {
        // An unknown job or another kind of job will not become one: say so and stop asking.
        if (error instanceof ApiError && error.status < 500 && error.status !== 401) { stop(); clear(problem, errorBox(error)); return; }
        throw error;
      }
      clear(status, badge(progress.status));
      const share = progress.time_limit ? Math.min(1, progress.elapsed_seconds / progress.time_limit) : 0;
      meter.firstChild.style.width = `${(FINAL.includes(progress.status) ? 1 : share) * 100}%`;
      clear(numbers, facts([
        ["Data", `${progress.dataset}, target ${progress.target}`],
        ["Elapsed", seconds(progress.elapsed_seconds)],
        ["Remaining", seconds(progress.remaining_seconds)],
        ["Trials so far", String(progress.trials)],
        ["Best score so far", progress.best_score === null ? "—" : number(progress.best_score)],
      ]));
      log.textContent = progress.log.join("\n");
      if (progress.trial_scores.length !== plotted) {
        plotted = progress.trial_scores.length;
        chart(plot, [
          { name: "trial", mode: "markers", x: progress.trial_scores.map((p) => p[0]), y: progress.trial_scores.map((p) => p[1]) },
          { name: "best so far", mode: "lines", line: { shape: "hv" }, x: progress.best_scores.map((p) => p[0]), y: progress.best_scores.map((p) => p[1]) },
        ], { height: 220, margin: { l: 50, r: 10, t: 10, b: 40 }, xaxis: { title: "trial" }, yaxis: { title: "score" } });
      }
      if (!FINAL.includes(progress.status)) return;
      stop();
      if (progress.status === "Completed") renderResult(progress.result);
      else cards.progress.querySelector("section").append(errorBox(`The run ${progress.status.toLowerCase()}: ${progress.failure_reason || "no reason given"}`));
    });
  }

  // -- 4. leaderboard and explanation ---------------------------------------------------------
  function renderResult(result) {
    state.result = result;
    const [group, version] = result.model.split(":");
    const metric = result.metric;
    const rows = result.leaderboard.map((row) => h("tr", {},
      h("td", {}, String(row.rank ?? "")),
      h("td", {}, row.algorithm),
      h("td", {}, row.recipe || ""),
      h("td", {}, number(row[metric])),
      h("td", {}, row.fit_seconds === undefined ? "" : `${number(row.fit_seconds, 3)} s`),
      h("td", {}, row.weight ? number(row.weight, 2) : ""),
      h("td", { class: "mono canvas-settings" }, row.algorithm === "ensemble" ? (row.hyperparameters.members || []).join(", ") : JSON.stringify(row.hyperparameters))));
    const importance = (result.explanation && result.explanation.permutation_importance) || [];
    const plot = h("div", { class: "chart", id: "canvas-importance" });
    clear(cards.result, step("canvas-result", 4, "Leaderboard and explanation",
      facts([
        ["Model", link(`#/models/${encodeURIComponent(group)}/${version}`, result.model), " ", badge(result.approval_status)],
        ["Score", `${metric} ${number(result.score)} (${result.validation}, out of fold)`],
        ["Trials", String(result.trials)],
      ]),
      h("table", { class: "grid", id: "canvas-leaderboard" },
        h("thead", {}, h("tr", {}, ["Rank", "Model", "Recipe", metric, "Fit time", "Weight", "Settings"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)),
      h("h3", {}, "What mattered (permutation importance)"),
      importance.length ? plot : h("p", { class: "muted", id: "canvas-importance-skipped" },
        `No feature importance was stored with this model: ${(result.explanation && result.explanation.permutation_importance_skipped) || "the run had no time left for it"}.`)));
    if (importance.length) {
      const top = importance.slice(0, 15).reverse();
      chart(plot, [{ type: "bar", orientation: "h", x: top.map((r) => r.importance), y: top.map((r) => r.feature), error_x: { type: "data", array: top.map((r) => r.std || 0) } }],
        { height: 40 + 24 * top.length, margin: { l: 150, r: 20, t: 10, b: 40 }, xaxis: { title: `drop in ${metric}` } });
    }
    renderDeploy(group);
  }

  // -- 5. deploy ------------------------------------------------------------------------------
  function renderDeploy(group) {
    const message = h("div", { id: "canvas-deploy-error" });
    const name = h("input", { id: "canvas-endpoint", value: group, "aria-label": "Endpoint name" });
    const unapproved = h("input", { id: "canvas-allow-unapproved", type: "checkbox" });
    const button = h("button", { id: "canvas-deploy-button", class: "primary", disabled: !scientist }, "Deploy");
    button.addEventListener("click", async () => {
      clear(message);
      button.disabled = true;
      try {
        const endpoint = await api("/canvas/deploy", { method: "POST", body: { model: state.result.model, endpoint: name.value, allow_unapproved: unapproved.checked } });
        toast(`${state.result.model} serves at ${endpoint.name}`);
        clear(message, h("p", {}, "Deployed: ", link(`#/endpoints/${encodeURIComponent(endpoint.name)}`, endpoint.name), ` serves ${endpoint.model}.`));
        await renderPredict(endpoint.name);
      } catch (error) {
        message.append(errorBox(error));
        if (error instanceof ApiError && error.roleNeeded === "approver") {
          message.append(h("p", { id: "canvas-needs-approver" }, "This workspace requires approval before a model serves: an approver approves ",
            link(`#/models/${encodeURIComponent(group)}/${state.result.model.split(":")[1]}`, state.result.model), " and deploys it."));
        } else if (error instanceof ApiError && error.code === "registry.not-approved") {
          message.append(h("p", { id: "canvas-needs-approval" }, "Approve the model on its page first, or tick 'deploy unapproved' (recorded in the deployment history)."));
        }
      } finally {
        button.disabled = !scientist;
      }
    });
    clear(cards.deploy, step("canvas-deploy", 5, "Deploy",
      h("div", { class: "toolbar" }, h("label", { for: "canvas-endpoint", class: "inline" }, "Endpoint"), name,
        can("approver") ? h("label", { class: "inline" }, unapproved, " deploy unapproved") : null, button),
      message));
  }

  // -- 6. predict one row ---------------------------------------------------------------------
  async function renderPredict(endpoint) {
    state.endpoint = endpoint;
    const form = await api(`/canvas/endpoints/${encodeURIComponent(endpoint)}/form`);
    const fields = form.inputs.map((input) => {
      const id = `canvas-input-${input.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      const control = input.categories
        ? h("select", { id, name: input.name }, h("option", { value: "" }, "(missing)"), input.categories.map((c) => h("option", { value: String(c) }, String(c))))
        : h("input", { id, name: input.name, type: input.dtype === "number" ? "number" : "text", step: "any" });
      control.dataset.dtype = input.dtype;
      return h("div", { class: "canvas-field" }, h("label", { for: id }, input.name, " ", h("span", { class: "muted" }, input.type)), control);
    });
    const answer = h("div", { id: "canvas-prediction" });
    const submit = async (event) => {
      event.preventDefault();
      clear(answer);
      const record = {};
      for (const control of event.target.querySelectorAll("[name]")) {
        const raw = control.value;
        const category = form.inputs.find((i) => i.name === control.name).categories;
        const typed = category ? category.find((c) => String(c) === raw) : raw;
        record[control.name] = raw === "" ? null : control.dataset.dtype === "number" && !category ? Number(raw) : typed;
      }
      try {
        const result = await api(`/canvas/endpoints/${encodeURIComponent(endpoint)}/predict`, { method: "POST", body: { records: [record] } });
        renderPrediction(answer, result);
      } catch (error) {
        answer.append(errorBox(error));
      }
    };
    clear(cards.predict, step("canvas-predict", 6, `Predict one row (${form.target})`,
      h("p", { class: "muted" }, `${form.model} at ${endpoint}; a field left empty is missing, which the model imputes.`),
      h("form", { id: "canvas-predict-form", onsubmit: submit },
        h("div", { class: "canvas-fields" }, fields),
        h("p", {}, h("button", { id: "canvas-predict-button", class: "primary", type: "submit", disabled: !scientist }, "Predict"))),
      answer));
    renderBatch();
  }

  function renderPrediction(element, result) {
    const prediction = result.predictions[0];
    const shown = "label" in prediction ? prediction.label : "value" in prediction ? prediction.value : JSON.stringify(prediction);
    const probabilities = prediction.probabilities || {};
    clear(element,
      h("p", { class: "canvas-answer" }, "Prediction: ", h("b", { id: "canvas-predicted" }, String(shown))),
      Object.keys(probabilities).length
        ? h("table", { class: "grid", id: "canvas-probabilities" }, h("thead", {}, h("tr", {}, h("th", {}, "Class"), h("th", {}, "Probability"))),
          h("tbody", {}, Object.entries(probabilities).map(([label, p]) => h("tr", {}, h("td", {}, label), h("td", {}, number(p))))))
        : null,
      (result.warnings || []).map((w) => h("p", { class: "muted" }, w)));
  }

  // -- 7. batch scoring -----------------------------------------------------------------------
  function renderBatch() {
    const message = h("div", { id: "canvas-batch-error" });
    const file = h("input", { id: "canvas-score-file", type: "file", accept: ".csv,.parquet,.jsonl" });
    const button = h("button", { id: "canvas-score-button", class: "primary", type: "submit", disabled: !scientist }, "Score the file");
    const status = h("div", { id: "canvas-batch-status" });
    const score = async (event) => {
      event.preventDefault();
      clear(message); clear(status);
      const chosen = file.files[0];
      if (!chosen) return message.append(errorBox("Choose a file to score first."));
      button.disabled = true;
      try {
        const started = await api("/canvas/scores", { method: "POST", body: chosen, query: { model: state.result.model, filename: chosen.name } });
        const stop = every(1000, async () => {
          const progress = await api(`/canvas/scores/${encodeURIComponent(started.job)}/progress`);
          clear(status, h("div", { class: "toolbar" }, badge(progress.status), link(`#/jobs/${encodeURIComponent(progress.job)}`, progress.job)),
            h("pre", { class: "logs" }, progress.log.join("\n")));
          if (!FINAL.includes(progress.status)) return;
          stop();
          button.disabled = !scientist;
          if (progress.status === "Completed") {
            status.append(h("p", {}, h("a", { id: "canvas-download", class: "button primary", href: `/api/canvas/scores/${encodeURIComponent(progress.job)}`, download: "" }, `Download the scored file (${progress.rows.toLocaleString()} rows)`)));
          } else {
            status.append(errorBox(`Scoring ${progress.status.toLowerCase()}: ${progress.failure_reason || "no reason given"}`));
          }
        });
      } catch (error) {
        message.append(errorBox(error));
        button.disabled = !scientist;
      }
    };
    clear(cards.batch, step("canvas-batch", 7, "Score a file",
      h("p", { class: "muted" }, `Upload rows with the same columns; a batch transform job scores them with ${state.result.model} and writes a CSV of the rows with their predictions.`),
      h("form", { class: "toolbar", id: "canvas-batch-form", onsubmit: score }, file, button),
      message, status));
  }

  renderData();
  if (query.get("job")) watch(query.get("job"));
  else if (query.get("data")) await chooseDataset(query.get("data"));
}, { nav: "canvas" });
