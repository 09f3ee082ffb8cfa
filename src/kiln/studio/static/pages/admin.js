// The audit log (everyone) and the users page (admins).
import { act, api, badge, can, clear, errorBox, h, pagedTable, route, time, toast } from "../kiln.js";

route("/audit", async (main) => {
  main.append(
    h("h1", {}, "Audit log"),
    h("p", { class: "muted" }, "Every change made through Studio: who, when, what, on which record and why, refusals included."),
    pagedTable({
      id: "audit-table",
      sort: "-id",
      fetch: (params) => api("/audit", { query: params }),
      filters: [
        { name: "q", label: "Search", type: "text" },
        { name: "user", label: "User", type: "text" },
        { name: "outcome", label: "Outcome", type: "select", options: [["ok", "ok"], ["refused", "refused"], ["failed", "failed"]] },
      ],
      columns: [
        { key: "at", label: "When", sort: "at", render: (row) => time(row.at) },
        { key: "user", label: "Who", sort: "user" },
        { key: "action", label: "Action", sort: "action", render: (row) => h("span", { class: "mono" }, row.action) },
        { key: "target", label: "Target" },
        { key: "reason", label: "Why" },
        { key: "outcome", label: "Outcome", render: (row) => badge(row.outcome) },
        { key: "detail", label: "Detail", render: (row) => h("span", { class: "mono" }, Object.keys(row.detail || {}).length ? JSON.stringify(row.detail) : "") },
      ],
    }),
  );
});

const ROLE_OPTIONS = ["annotator", "viewer", "scientist", "approver", "admin"];

route("/users", async (main) => {
  main.append(h("h1", {}, "Users"));
  if (!can("admin")) {
    main.append(errorBox("Managing users needs the admin role."));
    return;
  }
  const message = h("div");
  const name = h("input", { id: "new-user-name", placeholder: "name" });
  const role = h("select", { id: "new-user-role" }, ROLE_OPTIONS.map((r) => h("option", { value: r }, r)));
  const password = h("input", { id: "new-user-password", type: "password", placeholder: "password (optional, 8+ characters)" });
  let table;
  const add = async (event) => {
    event.preventDefault();
    clear(message);
    try {
      await act(event.submitter, () => api("/users", { method: "POST", body: { name: name.value, role: role.value, password: password.value || null } }), `Added ${name.value}`);
      name.value = ""; password.value = "";
      table.reload();
    } catch (error) {
      message.append(errorBox(error));
    }
  };
  const changeRole = (user) => {
    const select = h("select", { "aria-label": `Role of ${user.name}` }, ROLE_OPTIONS.map((r) => h("option", { value: r, selected: r === user.role }, r)));
    select.addEventListener("change", () => act(select, () => api(`/users/${encodeURIComponent(user.name)}`, { method: "PATCH", body: { role: select.value } }), `${user.name} is now ${select.value}`).then(() => table.reload(), () => table.reload()));
    return select;
  };
  const token = (user) => h("button", {
    onclick: async (event) => {
      const made = await act(event.target, () => api(`/users/${encodeURIComponent(user.name)}/tokens`, { method: "POST" }));
      clear(message, h("div", { class: "card" }, `Token for ${user.name} (shown once): `, h("span", { class: "mono", id: "new-token" }, made.token)));
    },
  }, "New token");
  const toggle = (user) => h("button", {
    class: user.status === "active" ? "danger" : "",
    onclick: (event) => act(event.target, () => api(`/users/${encodeURIComponent(user.name)}`, { method: "PATCH", body: { disabled: user.status === "active" } })).then(() => table.reload()),
  }, user.status === "active" ? "Disable" : "Enable");
  table = pagedTable({
    id: "users-table",
    fetch: (params) => api("/users", { query: params }),
    filters: [{ name: "q", label: "Name", type: "text" }],
    columns: [
      { key: "name", label: "Name", sort: "name" },
      { key: "role", label: "Role", sort: "role", render: changeRole },
      { key: "status", label: "Status", render: (row) => badge(row.status, row.status === "active" ? "ok" : "Stopped") },
      { key: "created_at", label: "Added", sort: "created_at", render: (row) => time(row.created_at) },
      { key: "actions", label: "", render: (row) => [token(row), " ", toggle(row)] },
    ],
  });
  main.append(
    h("form", { class: "card toolbar", id: "add-user", onsubmit: add }, name, role, password, h("button", { class: "primary", type: "submit" }, "Add user")),
    message,
    table,
    keysSection(),
  );
});

// The serving API's keys ('kiln serve --require-auth'): list, create (shown once), revoke.
function keysSection() {
  const body = h("tbody");
  const message = h("div");
  const endpoint = h("input", { id: "new-key-endpoint", placeholder: "endpoint (empty: every one)" });
  const name = h("input", { id: "new-key-name", placeholder: "what it is for" });
  const rate = h("input", { id: "new-key-rate", type: "number", min: "0", step: "any", placeholder: "requests/s (empty: no limit)" });
  async function load() {
    const keys = await api("/keys");
    clear(body, keys.items.length ? keys.items.map((key) => h("tr", {},
      h("td", { class: "mono" }, key.id), h("td", {}, key.name || ""), h("td", {}, key.endpoint || "(every)"),
      h("td", {}, key.rate_limit ? `${key.rate_limit}/s` : ""), h("td", {}, time(key.created_at)), h("td", {}, key.created_by),
      h("td", {}, badge(key.status, key.status === "active" ? "ok" : "Stopped")),
      h("td", {}, key.status === "active" ? h("button", {
        class: "danger",
        onclick: (event) => act(event.target, () => api(`/keys/${encodeURIComponent(key.id)}/revoke`, { method: "POST" }), `Revoked ${key.id}`).then(load),
      }, "Revoke") : ""))) : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No API keys yet.")));
  }
  const create = async (event) => {
    event.preventDefault();
    clear(message);
    try {
      const made = await act(event.submitter, () => api("/keys", { method: "POST", body: { endpoint: endpoint.value || null, name: name.value || null, rate_limit: rate.value ? Number(rate.value) : null } }));
      message.append(h("div", { class: "card" }, `Key ${made.id} (shown once): `, h("span", { class: "mono", id: "new-key" }, made.key)));
      endpoint.value = ""; name.value = ""; rate.value = "";
      await load();
    } catch (error) {
      message.append(errorBox(error));
    }
  };
  load().catch((error) => message.append(errorBox(error)));
  return h("div", { id: "api-keys" },
    h("h2", {}, "API keys for endpoints"),
    h("p", { class: "muted" }, "What 'kiln serve --require-auth' accepts (also 'kiln keys'). A key is shown once, when it is made."),
    h("form", { class: "card toolbar", id: "add-key", onsubmit: create }, endpoint, name, rate, h("button", { class: "primary", type: "submit" }, "Create key")),
    message,
    h("table", { class: "grid", id: "keys-table" },
      h("thead", {}, h("tr", {}, ["Key", "Name", "Endpoint", "Rate limit", "Created", "By", "Status", ""].map((label) => h("th", {}, label)))),
      body));
}
