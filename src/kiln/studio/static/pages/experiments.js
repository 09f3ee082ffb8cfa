// Studio pages: experiments, an experiment's runs (server-paged, sorted by any metric or
// hyperparameter, with a column chooser kept in localStorage) and parallel coordinates.
import { api, badge, clear, facts, h, link, number, pagedTable, route, time } from "../kiln.js";

const enc = encodeURIComponent;
const SVG = "http://www.w3.org/2000/svg";
const COMPARE_RUNS = 200;

route("/experiments", async (main) => {
  main.append(
    h("h1", {}, "Experiments"),
    h("p", { class: "muted" }, "Training runs grouped under a name ('kiln train ... --experiment NAME'), compared side by side."),
    pagedTable({
      id: "experiments-table",
      fetch: (params) => api("/experiments", { query: params }),
      filters: [{ name: "q", label: "Name", type: "text" }],
      columns: [
        { key: "name", label: "Experiment", sort: "name", render: (row) => link(`#/experiments/${enc(row.name)}`, row.name) },
        { key: "runs", label: "Runs", render: (row) => number(row.runs) },
        { key: "description", label: "Description" },
        { key: "created_at", label: "Created", sort: "created_at", render: (row) => time(row.created_at) },
        { key: "created_by", label: "By" },
      ],
      empty: "No experiments yet: train with --experiment NAME.",
    }),
  );
}, { nav: "experiments" });

function storageKey(name) {
  return `kiln.experiments.columns.${name}`;
}

// The columns shown: the user's last choice for this experiment, else the metric the best run is
// ranked by and the next few.
function chosenColumns(name, metrics, params, primary) {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey(name)) || "null");
    if (Array.isArray(saved)) {
      const known = new Set([...metrics.map((m) => `metric.${m}`), ...params.map((p) => `param.${p}`)]);
      return saved.filter((key) => known.has(key));
    }
  } catch { /* a value another version wrote: start again from the default */ }
  const first = metrics.includes(primary) ? [primary] : [];
  return [...first, ...metrics.filter((m) => m !== primary)].slice(0, 4).map((m) => `metric.${m}`);
}

function valueOf(run, key) {
  const [kind, name] = [key.slice(0, key.indexOf(".")), key.slice(key.indexOf(".") + 1)];
  const value = kind === "metric" ? run.metrics[name] : run.params[name];
  return value === undefined ? null : value;
}

// Parallel coordinates as an SVG built here: the bundled plotly.js (the cartesian build) has no
// parcoords trace, and a hand-drawn SVG keeps one polyline per run with its own tooltip. Each
// axis is normalised to its runs' range; text values (a penalty, a class weight) are placed
// evenly in sorted order; a run missing a value breaks its line at that axis.
export function parallelCoordinates(runs, keys) {
  const width = Math.max(560, keys.length * 150);
  const height = 320;
  const top = 30;
  const bottom = 40;
  const left = 60;
  const step = keys.length > 1 ? (width - 2 * left) / (keys.length - 1) : 0;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "parcoords");
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  const scales = keys.map((key) => {
    const values = runs.map((run) => valueOf(run, key)).filter((v) => v !== null);
    if (values.every((v) => typeof v === "number")) {
      const low = Math.min(...values);
      const high = Math.max(...values);
      return { position: (v) => (high === low ? 0.5 : (v - low) / (high - low)), labels: values.length ? [[0, number(low)], [1, number(high)]] : [] };
    }
    const levels = [...new Set(values.map(String))].sort();
    const place = (v) => (levels.length === 1 ? 0.5 : levels.indexOf(String(v)) / (levels.length - 1));
    return { position: place, labels: levels.map((level) => [place(level), level]) };
  });
  const y = (fraction) => top + (1 - fraction) * (height - top - bottom);
  keys.forEach((key, i) => {
    const x = left + i * step;
    el("line", { x1: x, x2: x, y1: y(0), y2: y(1), class: "axis" });
    el("text", { x, y: height - 12, "text-anchor": "middle", class: "axis-label" }, key.replace(/^(metric|param)\./, ""));
    for (const [fraction, label] of scales[i].labels) el("text", { x: x - 6, y: y(fraction) + 4, "text-anchor": "end", class: "tick" }, label);
  });
  const algorithms = [...new Set(runs.map((run) => run.algorithm || ""))].sort();
  runs.forEach((run) => {
    const hue = (algorithms.indexOf(run.algorithm || "") * 137) % 360;
    let points = [];
    const flush = () => {
      if (points.length > 1) {
        const line = el("polyline", { points: points.join(" "), class: "run", stroke: `hsl(${hue} 70% 45%)`, "data-job": run.job });
        line.append(Object.assign(document.createElementNS(SVG, "title"), { textContent: `${run.job} (${run.algorithm || run.kind})` }));
      } else if (points.length === 1) {
        const [cx, cy] = points[0].split(",");
        el("circle", { cx, cy, r: 3, fill: `hsl(${hue} 70% 45%)` });
      }
      points = [];
    };
    keys.forEach((key, i) => {
      const value = valueOf(run, key);
      if (value === null) return flush();
      points.push(`${left + i * step},${y(scales[i].position(value))}`);
    });
    flush();
  });
  algorithms.forEach((algorithm, i) => {
    el("text", { x: left + i * 130, y: 14, class: "legend", fill: `hsl(${(i * 137) % 360} 70% 45%)` }, `— ${algorithm || "other"}`);
  });
  return svg;
}

route("/experiments/:name", async (main, { name }) => {
  const base = `/experiments/${enc(name)}`;
  const [experiment, first] = await Promise.all([api(base), api(`${base}/runs`, { query: { limit: 1 } })]);
  const { metrics, params } = first;
  let chosen = chosenColumns(name, metrics, params, experiment.best && experiment.best.metric);
  const tableArea = h("div", { id: "runs-area" });
  const compareArea = h("div", { id: "compare-area", class: "scroll-x" });
  let sort = "-created_at";

  const drawCompare = async () => {
    if (chosen.length < 2) return clear(compareArea, h("p", { class: "muted" }, "Choose two columns or more to compare runs."));
    const page = await api(`${base}/runs`, { query: { limit: COMPARE_RUNS, sort, status: "completed" } });
    clear(compareArea,
      h("p", { class: "muted" }, `The ${page.items.length} completed run(s) first in the table's order${page.total > page.items.length ? ` (of ${page.total})` : ""}, one line each, coloured by algorithm.`),
      page.items.length ? parallelCoordinates(page.items, chosen) : h("p", { class: "muted" }, "No completed runs."));
  };

  const drawTable = () => {
    const columns = [
      { key: "job", label: "Run", render: (row) => link(`#/jobs/${enc(row.job)}`, row.job) },
      { key: "status", label: "Status", sort: "status", render: (row) => badge(row.status) },
      { key: "algorithm", label: "Algorithm" },
      { key: "model", label: "Model", render: (row) => row.model ? link(`#/models/${row.model.split(":").map(enc).join("/")}`, row.model) : "" },
      ...chosen.map((key) => ({ key, label: key.replace(/^metric\./, "").replace(/^param\./, "hp "), sort: key, render: (row) => number(valueOf(row, key)) })),
      { key: "created_at", label: "Started", sort: "created_at", render: (row) => time(row.created_at) },
    ];
    const table = pagedTable({
      id: "runs-table",
      sort,
      fetch: async (query) => {
        const page = await api(`${base}/runs`, { query });
        if (page.sort !== sort) { sort = page.sort; drawCompare(); }
        return page;
      },
      columns,
      filters: [{ name: "status", label: "Status", type: "select", options: [["completed", "Completed"], ["failed", "Failed"], ["inprogress", "In progress"]] }],
    });
    clear(tableArea, table);
  };

  const chooser = h("details", { class: "card", id: "column-chooser" },
    h("summary", {}, "Columns"),
    [["Metrics", metrics, "metric"], ["Hyperparameters", params, "param"]].map(([title, names, kind]) => h("div", { class: "chooser-group" },
      h("strong", {}, title, ": "),
      names.length ? names.map((n) => {
        const key = `${kind}.${n}`;
        const box = h("input", { type: "checkbox", value: key, checked: chosen.includes(key) });
        box.addEventListener("change", () => {
          chosen = box.checked ? [...chosen, key] : chosen.filter((k) => k !== key);
          localStorage.setItem(storageKey(name), JSON.stringify(chosen));
          drawTable();
          drawCompare();
        });
        return h("label", { class: "choice" }, box, ` ${n}`);
      }) : h("span", { class: "muted" }, "none"))));

  const best = experiment.best;
  main.append(
    h("p", { class: "crumbs" }, link("#/experiments", "Experiments"), " / ", name),
    h("h1", {}, name),
    h("div", { id: "experiment-facts" }, facts([
      ["Runs", number(first.total)],
      best ? ["Best run", [link(`#/jobs/${enc(best.job)}`, best.job), " → ", best.model || ""]] : ["Best run", "none completed yet"],
      best ? ["Best score", `${best.metric} ${number(best.value)} on ${best.split}`] : null,
    ])),
    chooser,
    tableArea,
    h("h2", {}, "Compare"),
    compareArea,
  );
  drawTable();
  await drawCompare();
}, { nav: "experiments" });
