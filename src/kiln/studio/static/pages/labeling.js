// Studio pages: labelling — the jobs, a job's progress (agreement, cost, the automatic share,
// each annotator's answers, the items), and the annotator's page: one item at a time with the
// job's instructions and the task's control (see app.js for the frame).
import { act, api, badge, can, clear, facts, h, link, number, onLeave, pagedTable, route, time, toast } from "../kiln.js";

const enc = encodeURIComponent;

function seconds(value) {
  if (!value) return "0 s";
  if (value < 120) return `${number(value, 3)} s`;
  if (value < 7200) return `${number(value / 60, 3)} min`;
  return `${number(value / 3600, 3)} h`;
}

function percent(share) {
  return `${number(100 * share, 3)} %`;
}

// A bar of the items labelled, answered (waiting for consolidation) and open.
function progressBar(progress) {
  const total = progress.items || 1;
  const part = (key, label) => h("span", {
    class: `part ${key}`,
    style: `width: ${(100 * progress[key]) / total}%`,
    title: `${progress[key]} ${label}`,
  });
  return h("div", { class: "label-progress", role: "img", "aria-label": `${progress.labeled} of ${progress.items} items labelled` },
    part("labeled", "labelled"), part("answered", "answered"), part("open", "open"));
}

function progressText(progress) {
  return `${progress.labeled} labelled · ${progress.answered} answered · ${progress.open} open, of ${progress.items}`;
}

route("/labeling", async (main) => {
  main.append(
    h("h1", {}, "Labelling"),
    h("p", { class: "muted" }, can("viewer")
      ? "Labelling jobs: items handed to annotators one at a time, their answers consolidated into labels."
      : "The labelling jobs open to you. Pick one and answer its items one at a time."),
    pagedTable({
      id: "labeling-jobs",
      sort: "-created_at",
      fetch: (params) => api("/labeling/", { query: params }),
      filters: [{ name: "q", label: "Search name", type: "text" }],
      columns: [
        { key: "name", label: "Job", sort: "name", render: (job) => link(`#/labeling/${enc(job.name)}`, job.name) },
        { key: "kind", label: "Kind" },
        { key: "task", label: "Task" },
        { key: "progress", label: "Progress", render: (job) => h("div", { class: "label-progress-cell" }, progressBar(job.progress), h("span", { class: "muted" }, progressText(job.progress))) },
        { key: "status", label: "Status", render: (job) => badge(job.status) },
        { key: "created_at", label: "Created", sort: "created_at", render: (job) => time(job.created_at) },
        { key: "annotate", label: "", render: (job) => (job.status === "InProgress" ? h("a", { class: "button primary annotate", href: `#/labeling/${enc(job.name)}/annotate` }, "Annotate") : "") },
      ],
      empty: can("viewer") ? "No labelling jobs. Create one with 'kiln label create'." : "No labelling job is open.",
    }),
  );
});

function agreementFacts(agreement) {
  if (!agreement) return null;
  return h("div", { class: "card", id: "labeling-agreement" },
    h("h2", {}, "Agreement"),
    facts([
      ["Fleiss' kappa", agreement.fleiss_kappa === null || agreement.fleiss_kappa === undefined ? "—" : number(agreement.fleiss_kappa, 3)],
      ["Krippendorff's alpha", agreement.krippendorff_alpha === null || agreement.krippendorff_alpha === undefined ? "—" : number(agreement.krippendorff_alpha, 3)],
      agreement.note ? ["Note", agreement.note] : null,
    ]));
}

function annotatorTable(annotators) {
  if (!annotators) return null;
  const withAccuracy = annotators.some((a) => a.accuracy !== undefined && a.accuracy !== null);
  const heads = ["Annotator", "Answers", "Time", withAccuracy ? "Accuracy against the consensus" : null].filter(Boolean);
  return [h("h2", {}, "Annotators"), annotators.length
    ? h("table", { class: "grid", id: "labeling-annotators" },
      h("thead", {}, h("tr", {}, heads.map((t) => h("th", {}, t)))),
      h("tbody", {}, annotators.map((a) => h("tr", {},
        h("td", {}, a.name), h("td", {}, number(a.answers)), h("td", {}, seconds(a.seconds)),
        withAccuracy ? h("td", {}, a.accuracy === null || a.accuracy === undefined ? "—" : percent(a.accuracy)) : null))))
    : h("p", { class: "muted", id: "labeling-annotators" }, "No answers yet.")];
}

function shownValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

route("/labeling/:job", async (main, { job }) => {
  const { job: described, status, review } = await api(`/labeling/${enc(job)}`);
  const byMethod = status.by_method || {};
  clear(main,
    h("div", { class: "label-head" },
      h("h1", {}, "Labelling job ", h("span", { class: "mono" }, described.name), " ", badge(described.status)),
      h("div", { class: "toolbar right" }, described.status === "InProgress" ? h("a", { class: "button primary", id: "labeling-annotate", href: `#/labeling/${enc(job)}/annotate` }, "Annotate") : null)),
    h("div", { class: "card", id: "labeling-progress" },
      progressBar(status), h("p", {}, progressText(status)),
      facts([
        ["Kind", described.kind],
        ["Task", described.task],
        ["Labels", described.labels.join(", ")],
        ["Answers per item", String(described.annotators_per_item)],
        described.dataset ? ["Data", `${described.dataset}`] : null,
        described.endpoint ? ["Endpoint", can("viewer") ? link(`#/endpoints/${enc(described.endpoint)}`, described.endpoint) : described.endpoint] : null,
        review !== undefined ? ["Sent for review", review ? h("span", { id: "labeling-review" }, h("span", { class: "mono" }, review.when), review.sample_percent ? `, and ${number(review.sample_percent)} % of the rest` : "") : h("span", { id: "labeling-review", class: "muted" }, `nothing now (kiln endpoints human-review ${described.endpoint} --when "confidence < 0.6")`)] : null,
        ["Cost", `${number(status.human_answers)} human answers, ${seconds(status.human_seconds)}`],
        ["Labelled automatically", `${percent(status.automatic_share)} (${number(byMethod.automatic || 0)} of ${number(status.labeled)})`],
        ["By method", `human ${number(byMethod.human || 0)} · consolidated ${number(byMethod.consolidated || 0)} · automatic ${number(byMethod.automatic || 0)}`],
        ["Created", `${time(described.created_at)} by ${described.created_by}`],
      ])),
    agreementFacts(status.agreement),
    described.instructions ? h("div", { class: "card" }, h("h2", {}, "Instructions"), h("p", { class: "instructions" }, described.instructions)) : null,
    annotatorTable(status.annotators),
  );
  if (!can("viewer")) return;
  main.append(h("h2", {}, "Items"), pagedTable({
    id: "labeling-items",
    sort: "position",
    fetch: (params) => api(`/labeling/${enc(job)}/items`, { query: params }),
    filters: [{ name: "status", label: "Status", type: "select", options: [["open", "open"], ["answered", "answered"], ["labeled", "labelled"]] }],
    columns: [
      { key: "item", label: "Item", sort: "position", render: (item) => h("span", { class: "mono" }, item.item) },
      { key: "payload", label: "Shows", render: (item) => h("span", { class: "payload" }, Object.entries(item.payload).map(([k, v]) => `${k}: ${shownValue(v)}`).join(" · ").slice(0, 160)) },
      { key: "prior", label: described.kind === "review" ? "Predicted" : "Prior", render: (item) => shownValue(item.prior && item.prior.value) },
      { key: "status", label: "Status", render: (item) => badge(item.status, `item-${item.status}`) },
      { key: "answers", label: "Answers" },
      { key: "label", label: "Label", render: (item) => shownValue(item.label && item.label.value) },
      { key: "confidence", label: "Confidence", sort: "confidence", render: (item) => number(item.confidence, 3) },
      { key: "method", label: "Method" },
    ],
    empty: "No items.",
  }));
});

// -- the annotator's page -----------------------------------------------------------------------

// What the item shows: its text, its image, or its row's columns.
function itemView(job, item) {
  if (job.task === "text-spans" || job.task === "bounding-boxes") return null; // the control shows it
  if (job.media === "image") return imageView(item);
  if (job.media === "text") return h("div", { class: "label-text", id: "label-text" }, String(item.payload[job.content] ?? ""));
  return h("table", { class: "grid label-row" }, h("tbody", {}, Object.entries(item.payload).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, shownValue(v))))));
}

function imageView(item) {
  if (item.image.external) {
    return h("p", { class: "label-image-external" }, "This image is at another address, which Studio does not load (it fetches nothing from elsewhere): ",
      h("a", { href: item.image.url, target: "_blank", rel: "noopener noreferrer" }, item.image.url), ".");
  }
  return h("img", { class: "label-image", id: "label-image", src: item.image.url, alt: `item ${item.item}`, draggable: "false" });
}

// Each control: {element, answer() → the answer or null when not ready, key(event) → handled}.
function classificationControl(job) {
  let chosen = null;
  const buttons = job.labels.map((label, i) => h("button", { class: "label-choice", dataset: { label }, onclick: () => choose(label) }, i < 9 ? h("kbd", {}, String(i + 1)) : null, " ", label));
  function choose(label) {
    chosen = label;
    for (const b of buttons) b.classList.toggle("chosen", b.dataset.label === label);
  }
  return {
    element: h("div", { class: "label-choices", id: "label-choices" }, buttons),
    answer: () => chosen,
    key: (event) => {
      const index = Number(event.key) - 1;
      if (index >= 0 && index < Math.min(9, job.labels.length)) { choose(job.labels[index]); return true; }
      return false;
    },
  };
}

function multiLabelControl(job) {
  const boxes = job.labels.map((label) => h("input", { type: "checkbox", value: label, id: `label-check-${label}` }));
  return {
    element: h("div", { class: "label-choices", id: "label-choices" }, boxes.map((box, i) => h("label", { class: "label-check", for: box.id }, box, " ", i < 9 ? h("kbd", {}, String(i + 1)) : null, " ", box.value))),
    answer: () => boxes.filter((b) => b.checked).map((b) => b.value),
    key: (event) => {
      const index = Number(event.key) - 1;
      if (index >= 0 && index < Math.min(9, boxes.length)) { boxes[index].checked = !boxes[index].checked; return true; }
      return false;
    },
  };
}

// Labels to pick (digits pick too) before marking a span or drawing a box.
function labelPicker(job) {
  let current = job.labels[0];
  const buttons = job.labels.map((label, i) => h("button", { class: "label-choice", dataset: { label }, onclick: () => pick(label) }, i < 9 ? h("kbd", {}, String(i + 1)) : null, " ", label));
  function pick(label) {
    current = label;
    for (const b of buttons) b.classList.toggle("chosen", b.dataset.label === label);
  }
  pick(current);
  return {
    element: h("div", { class: "label-choices", id: "label-choices" }, buttons),
    current: () => current,
    key: (event) => {
      const index = Number(event.key) - 1;
      if (index >= 0 && index < Math.min(9, job.labels.length)) { pick(job.labels[index]); return true; }
      return false;
    },
  };
}

function partList(parts, describe, onRemove) {
  const list = h("ul", { class: "label-parts", id: "label-parts" });
  const draw = () => clear(list, parts.length
    ? parts.map((part, i) => h("li", {}, badge(part.label, "config"), " ", describe(part), " ", h("button", { class: "label-remove", "aria-label": "Remove", onclick: () => { parts.splice(i, 1); draw(); onRemove(); } }, "×")))
    : h("li", { class: "muted" }, "None yet."));
  draw();
  return { list, draw };
}

function spansControl(job, item) {
  const text = String(item.payload[job.content] ?? "");
  const picker = labelPicker(job);
  const spans = [];
  const view = h("div", { class: "label-text selectable", id: "label-text" });
  const paint = () => {
    // The text with each span marked: cut at every span boundary.
    const sorted = [...spans].sort((a, b) => a.start - b.start);
    const pieces = [];
    let at = 0;
    for (const span of sorted) {
      if (span.start < at) continue; // an overlapping span is listed, not drawn twice
      pieces.push(text.slice(at, span.start), h("mark", { dataset: { label: span.label } }, text.slice(span.start, span.end)));
      at = span.end;
    }
    pieces.push(text.slice(at));
    clear(view, pieces);
  };
  const parts = partList(spans, (s) => h("span", { class: "mono" }, `“${text.slice(s.start, s.end)}” (${s.start}–${s.end})`), paint);
  view.addEventListener("mouseup", () => {
    const selection = window.getSelection();
    if (!selection.rangeCount || selection.isCollapsed) return;
    const range = selection.getRangeAt(0);
    if (!view.contains(range.startContainer) || !view.contains(range.endContainer)) return;
    const before = document.createRange();
    before.setStart(view, 0);
    before.setEnd(range.startContainer, range.startOffset);
    const start = before.toString().length;
    const end = start + range.toString().length;
    selection.removeAllRanges();
    if (end <= start) return;
    spans.push({ start, end, label: picker.current() });
    parts.draw();
    paint();
  });
  paint();
  return {
    element: h("div", {}, h("p", { class: "muted" }, "Pick a label, then select text with the mouse to mark a span."), picker.element, view, parts.list),
    answer: () => spans.map((s) => ({ ...s })),
    key: picker.key,
  };
}

function boxesControl(job, item) {
  const picker = labelPicker(job);
  const boxes = [];
  const image = imageView(item);
  const layer = h("div", { class: "label-boxes", id: "label-canvas" }, image);
  const paint = () => {
    for (const old of layer.querySelectorAll(".label-box")) old.remove();
    if (!image.naturalWidth) return;
    const scale = image.clientWidth / image.naturalWidth;
    for (const box of boxes) {
      layer.append(h("div", { class: "label-box", style: `left:${box.x * scale}px;top:${box.y * scale}px;width:${box.width * scale}px;height:${box.height * scale}px` }, h("span", {}, box.label)));
    }
  };
  const parts = partList(boxes, (b) => h("span", { class: "mono" }, `x ${Math.round(b.x)}, y ${Math.round(b.y)}, ${Math.round(b.width)}×${Math.round(b.height)} px`), paint);
  if (image.tagName === "IMG") {
    image.addEventListener("load", paint);
    let origin = null;
    let drawing = null;
    // Where the pointer is on the image, in the image's own pixels.
    const at = (event) => {
      const rect = image.getBoundingClientRect();
      const scale = image.naturalWidth / rect.width;
      return {
        x: Math.min(Math.max(event.clientX - rect.left, 0), rect.width) * scale,
        y: Math.min(Math.max(event.clientY - rect.top, 0), rect.height) * scale,
      };
    };
    layer.addEventListener("mousedown", (event) => {
      event.preventDefault();
      origin = at(event);
      drawing = h("div", { class: "label-box drawing" });
      layer.append(drawing);
    });
    layer.addEventListener("mousemove", (event) => {
      if (!origin) return;
      const point = at(event);
      const scale = image.clientWidth / image.naturalWidth;
      Object.assign(drawing.style, {
        left: `${Math.min(origin.x, point.x) * scale}px`, top: `${Math.min(origin.y, point.y) * scale}px`,
        width: `${Math.abs(point.x - origin.x) * scale}px`, height: `${Math.abs(point.y - origin.y) * scale}px`,
      });
    });
    const finish = (event) => {
      if (!origin) return;
      const point = at(event);
      const box = { x: Math.min(origin.x, point.x), y: Math.min(origin.y, point.y), width: Math.abs(point.x - origin.x), height: Math.abs(point.y - origin.y), label: picker.current() };
      origin = null;
      drawing.remove();
      if (box.width >= 1 && box.height >= 1) { boxes.push(box); parts.draw(); }
      paint();
    };
    layer.addEventListener("mouseup", finish);
    layer.addEventListener("mouseleave", finish);
  }
  return {
    element: h("div", {}, h("p", { class: "muted" }, "Pick a label, then drag on the image to draw a box."), picker.element, layer, parts.list),
    answer: () => boxes.map((b) => ({ ...b })),
    key: picker.key,
  };
}

function controlFor(job, item) {
  if (job.task === "classification") return classificationControl(job);
  if (job.task === "multi-label") return multiLabelControl(job);
  if (job.task === "text-spans") return spansControl(job, item);
  return boxesControl(job, item);
}

function priorNote(job, prior) {
  if (prior === null || prior === undefined) return null;
  const what = job.kind === "review" ? "The model predicted" : "The label to check";
  return h("p", { class: "label-prior", id: "label-prior" }, `${what}: `, h("b", {}, shownValue(prior)), job.kind === "verification" ? " — give it as it is, or corrected." : "");
}

route("/labeling/:job/annotate", async (main, { job: name }) => {
  const card = h("div", { class: "card label-task", id: "label-task" });
  let control = null;
  let shown = null;
  let submitting = false;
  const submit = h("button", { class: "primary", id: "label-submit", onclick: () => send() }, "Submit ", h("kbd", {}, "Enter"));
  const position = h("span", { class: "muted", id: "label-position" });
  main.append(
    h("div", { class: "label-head narrow" }, h("h1", {}, "Labelling ", h("span", { class: "mono" }, name)),
      h("div", { class: "toolbar right" }, link(`#/labeling/${enc(name)}`, "Progress"))),
    card);

  async function next() {
    const given = await api(`/labeling/${enc(name)}/next`, { method: "POST" });
    if (!given) {
      control = null;
      clear(card, h("p", { class: "label-done", id: "label-done" }, "Nothing left for you in this job: thank you."), link("#/labeling", "Back to the labelling jobs"));
      return;
    }
    const { job, item } = given;
    shown = { item: item.item, at: performance.now() };
    control = controlFor(job, item);
    position.textContent = `item ${item.item}`;
    clear(card,
      job.instructions ? h("div", { class: "label-instructions", id: "label-instructions" }, job.instructions) : null,
      priorNote(job, item.prior),
      itemView(job, item),
      control.element,
      h("div", { class: "toolbar" }, submit, position,
        h("span", { class: "muted" }, job.task === "bounding-boxes" || job.task === "text-spans" ? "1–9 pick a label" : "1–9 choose a label")));
  }

  async function send() {
    if (!control || submitting) return;
    const answer = control.answer();
    if (answer === null) { toast("Choose a label first (1–9, or click one).", true); return; }
    submitting = true;
    try {
      await act(submit, () => api(`/labeling/${enc(name)}/items/${enc(shown.item)}/answer`, {
        method: "POST", body: { answer, seconds: (performance.now() - shown.at) / 1000 },
      }));
      await next();
    } catch {
      // act() showed the error; the item stays for another try
    } finally {
      submitting = false;
    }
  }

  const onKey = (event) => {
    if (!control || event.ctrlKey || event.metaKey || event.altKey) return;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName) && document.activeElement.type !== "checkbox") return;
    if (event.key === "Enter") { event.preventDefault(); send(); return; }
    if (control.key(event)) event.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  onLeave(() => document.removeEventListener("keydown", onKey));
  await next();
}, { nav: "labeling" });
