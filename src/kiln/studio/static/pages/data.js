// Studio pages: data sets, their versions (facts, schema, first rows, profile, lineage), and the
// SQL query box.
import { api, clear, errorBox, facts, h, link, number, pagedTable, route, time } from "../kiln.js";

const enc = encodeURIComponent;

export function size(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function versionHref(name, version) {
  return `#/data/${enc(name)}/${version}`;
}

// A plain table of columns and rows (lists of values), as the query and the first rows come.
function rowsTable(columns, rows, id) {
  return h("div", { class: "scroll-x" }, h("table", { class: "grid", id },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.length
      ? rows.map((row) => h("tr", {}, row.map((value) => h("td", {}, value === null ? h("span", { class: "muted" }, "null") : number(value)))))
      : h("tr", {}, h("td", { colspan: columns.length || 1, class: "muted" }, "No rows.")))));
}

// The SQL box: the server runs one page of the query (and its count); an error shows under the
// box and the box stays usable.
function queryBox(initial) {
  const sql = h("textarea", { id: "sql-input", rows: 4, spellcheck: "false", class: "mono", "aria-label": "SQL query" });
  sql.value = initial;
  const output = h("div", { id: "sql-result" });
  const state = { offset: 0, limit: 50, sequence: 0 };
  const run = async () => {
    runButton.disabled = true;
    const mine = ++state.sequence;
    try {
      const page = await api("/data/query", { method: "POST", body: { sql: sql.value, limit: state.limit, offset: state.offset } });
      if (mine !== state.sequence) return; // a newer run answers instead
      const last = page.offset + page.items.length;
      const prev = h("button", { id: "sql-prev", type: "button", disabled: page.offset <= 0, onclick: () => { state.offset = Math.max(0, state.offset - state.limit); run(); } }, "← Previous");
      const next = h("button", { id: "sql-next", type: "button", disabled: last >= page.total, onclick: () => { state.offset += state.limit; run(); } }, "Next →");
      clear(output,
        rowsTable(page.columns, page.items, "sql-table"),
        h("div", { class: "pager" }, prev, h("span", { class: "page-info", id: "sql-info" }, page.total ? `${(page.offset + 1).toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()}` : "0 rows"), next));
    } catch (error) {
      if (mine === state.sequence) clear(output, errorBox(error));
    } finally {
      runButton.disabled = false;
    }
  };
  const runButton = h("button", { class: "primary", id: "sql-run", type: "submit" }, "Run");
  const form = h("form", { class: "card", id: "sql-form", onsubmit: (event) => { event.preventDefault(); state.offset = 0; run(); } },
    h("h2", {}, "Query"),
    h("p", { class: "muted" }, "SQL over the lake (DuckDB): each data set is a table, its latest version; ", h("span", { class: "mono" }, "name@2"), " a given one. Read-only: files, settings and extensions are out of reach."),
    sql, h("div", { class: "toolbar" }, runButton), output);
  sql.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); state.offset = 0; run(); }
  });
  return form;
}

route("/data", async (main) => {
  const table = pagedTable({
    id: "datasets-table",
    fetch: (params) => api("/data", { query: params }),
    filters: [{ name: "q", label: "Name", type: "text" }],
    columns: [
      { key: "name", label: "Data set", sort: "name", render: (row) => link(`#/data/${enc(row.name)}`, row.name) },
      { key: "version", label: "Latest", render: (row) => link(versionHref(row.name, row.version), `v${row.version}`) },
      { key: "row_count", label: "Rows", sort: "rows", render: (row) => number(row.row_count) },
      { key: "column_count", label: "Columns", render: (row) => number(row.column_count) },
      { key: "size_bytes", label: "Size", render: (row) => size(row.size_bytes) },
      { key: "created_at", label: "Created", sort: "created_at", render: (row) => time(row.created_at) },
      { key: "created_by", label: "By" },
    ],
    empty: "No data sets yet. Upload a CSV in Canvas, or 'kiln data ingest FILE --name NAME'.",
  });
  main.append(
    h("h1", {}, "Data"),
    h("p", { class: "muted" }, "Versioned data sets of the lake. Upload a CSV in ", link("#/canvas", "Canvas"), ", or ingest with 'kiln data ingest'."),
    table,
    queryBox("SELECT * FROM "),
  );
}, { nav: "data" });

route("/data/:name", async (main, { name }) => {
  main.append(
    h("p", { class: "crumbs" }, link("#/data", "Data"), " / ", name),
    h("h1", {}, name),
    pagedTable({
      id: "versions-table",
      sort: "-version",
      fetch: (params) => api(`/data/${enc(name)}/versions`, { query: params }),
      columns: [
        { key: "version", label: "Version", sort: "version", render: (row) => link(versionHref(row.name, row.version), `v${row.version}`) },
        { key: "row_count", label: "Rows", sort: "rows", render: (row) => number(row.row_count) },
        { key: "column_count", label: "Columns", render: (row) => number(row.column_count) },
        { key: "size_bytes", label: "Size", render: (row) => size(row.size_bytes) },
        { key: "digest", label: "SHA-256", render: (row) => h("span", { class: "mono", title: row.digest }, row.digest.slice(0, 12)) },
        { key: "source", label: "Source", render: (row) => h("span", { class: "clip", title: row.source }, row.source) },
        { key: "created_at", label: "Created", sort: "created_at", render: (row) => time(row.created_at) },
        { key: "created_by", label: "By" },
      ],
    }),
  );
}, { nav: "data" });

// Where a lineage node's own Studio page is.
function nodeLink(node) {
  const [first, second] = node.label.split(":");
  if (node.kind === "dataset_version" && second) return link(versionHref(first, second), node.label);
  if (node.kind === "model_version" && second) return link(`#/models/${enc(first)}/${second}`, node.label);
  if (node.kind === "job") return link(`#/jobs/${enc(node.id)}`, node.label);
  if (node.kind === "endpoint") return link(`#/endpoints/${enc(node.label)}`, node.label);
  return h("span", {}, node.label);
}

function lineageList(graph) {
  const upstream = graph.nodes.filter((n) => n.level < 0).sort((a, b) => b.level - a.level);
  const downstream = graph.nodes.filter((n) => n.level > 0).sort((a, b) => a.level - b.level);
  // The edge that led the walk to the node: into it downstream, out of it upstream.
  const relation = (node) => {
    const edge = graph.edges.find((e) => (node.level > 0 ? e.target : e.source) === node.key);
    return edge ? edge.relation : "";
  };
  const list = (nodes, id, none) => nodes.length
    ? h("ul", { class: "lineage", id }, nodes.map((node) => h("li", {}, h("span", { class: "muted" }, `${node.kind.replace("_", " ")} · ${relation(node)} · `), nodeLink(node), Math.abs(node.level) > 1 ? h("span", { class: "muted" }, ` (${Math.abs(node.level)} steps away)`) : null)))
    : h("p", { class: "muted", id }, none);
  return [
    h("h3", {}, "Made from"), list(upstream, "lineage-upstream", "Nothing recorded: it was ingested."),
    h("h3", {}, "Used by"), list(downstream, "lineage-downstream", "Nothing made from it yet."),
  ];
}

route("/data/:name/:version", async (main, { name, version }) => {
  const base = `/data/${enc(name)}/${enc(version)}`;
  const found = await api(base);
  const types = found.schema.columns;
  const profileArea = h("div", { id: "profile-area" });
  const headArea = h("div", { id: "head-area" }, h("p", { class: "muted" }, "Loading…"));
  const lineageArea = h("div", { id: "lineage-area" }, h("p", { class: "muted" }, "Loading…"));
  main.append(
    h("p", { class: "crumbs" }, link("#/data", "Data"), " / ", link(`#/data/${enc(name)}`, name), " / ", `v${found.version}`),
    h("h1", {}, found.ref),
    h("div", { id: "version-facts" }, facts([
      ["Rows", number(found.row_count)],
      ["Columns", number(found.column_count)],
      ["Size", size(found.size_bytes)],
      ["SHA-256", h("span", { class: "mono" }, found.digest)],
      ["Source", found.source],
      ["Created", time(found.created_at)],
      ["Created by", found.created_by],
      ["Id", h("span", { class: "mono" }, found.id)],
    ])),
    h("h2", {}, "Schema"),
    h("table", { class: "grid", id: "schema-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Column"), h("th", {}, "Semantic type"), h("th", {}, "Storage type"), h("th", {}, "Missing"))),
      h("tbody", {}, types.map((c) => h("tr", {}, h("td", {}, c.name), h("td", {}, h("span", { class: `badge type-${c.type}` }, c.type)), h("td", { class: "mono" }, c.dtype || ""), h("td", {}, number(c.missing)))))),
    h("h2", {}, "First rows"), headArea,
    h("h2", {}, "Profile"), profileArea,
    h("h2", {}, "Lineage"), lineageArea,
  );
  if (found.profiles.length) {
    const frame = h("iframe", { id: "profile-frame", sandbox: "allow-scripts", title: `Profile of ${found.ref}`, class: "report-frame" });
    const show = (target) => { frame.src = `/api${base}/profile${target ? `?target=${enc(target)}` : ""}`; };
    const choices = found.profiles.map((p) => p.target || "");
    const chooser = choices.length > 1
      ? h("select", { id: "profile-target", "aria-label": "Profile target", onchange: (event) => show(event.target.value) }, choices.map((t) => h("option", { value: t }, t ? `target ${t}` : "no target")))
      : null;
    clear(profileArea, chooser, frame);
    show(choices[0]);
  } else {
    clear(profileArea, h("p", { class: "muted", id: "no-profile" }, "No profile stored yet: ", h("span", { class: "mono" }, `kiln data profile ${found.ref}`), "."));
  }
  api(`${base}/head`, { query: { n: 20 } })
    .then((head) => clear(headArea, rowsTable(head.columns, head.rows, "head-table")))
    .catch((error) => clear(headArea, errorBox(error)));
  api(`${base}/lineage`)
    .then((graph) => clear(lineageArea, lineageList(graph)))
    .catch((error) => clear(lineageArea, errorBox(error)));
}, { nav: "data" });
