// The Fennec page: choose a zoo, describe a task or paste known results, see the ranking.
// Plain DOM and SVG, no library; every request goes to this server's JSON API.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let zoos = {};

function setStatus(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

async function api(path, body) {
  const opts = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify(body)};
  const res = await fetch(path, opts);
  let doc = null;
  try { doc = await res.json(); } catch (e) { doc = null; }
  if (!res.ok) {
    const why = doc && doc.detail ? doc.detail : res.statusText;
    throw new Error((doc && doc.error ? doc.error + ": " : "") + why);
  }
  return doc;
}

function fmt(x) {
  return x === null || x === undefined ? "-" : Number(x).toPrecision(4);
}

function mode() {
  return $("mode-known").checked ? "known" : "describe";
}

function showMode() {
  $("describe-box").hidden = mode() !== "describe";
  $("known-box").hidden = mode() !== "known";
}

function showZoo() {
  const z = zoos[$("zoo").value];
  if (!z) return;
  $("zoo-info").textContent = `${z.models.toLocaleString()} models x ${z.tasks} tasks` +
    (z.title ? ` - ${z.title}` : "") + (z.describable ? "" : " (its tasks have no descriptions: paste results)");
  $("mode-describe").disabled = !z.describable;
  if (!z.describable) $("mode-known").checked = true;
  showMode();
}

function parseKnown(text) {
  const known = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const cut = line.lastIndexOf(",");
    const model = cut < 0 ? "" : line.slice(0, cut).trim();
    const score = cut < 0 ? NaN : Number(line.slice(cut + 1));
    if (i === 0 && model === "model" && isNaN(score)) return;  // a header line
    if (!model || !isFinite(score)) throw new Error(`known results, line ${i + 1}: expected model,score`);
    known[model] = score;
  });
  if (!Object.keys(known).length) throw new Error("paste at least one model,score line");
  return known;
}

function request() {
  const top = parseInt($("top").value, 10);
  const body = {zoo: $("zoo").value, top: isFinite(top) ? top : 10, explore: $("explore").checked};
  if (mode() === "describe") {
    const text = $("description").value.trim();
    if (!text) throw new Error("describe the task in a few words");
    body.description = text;
  } else {
    body.known = parseKnown($("known").value);
  }
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function renderTable(models) {
  const body = $("ranking").tBodies[0];
  body.replaceChildren();
  for (const m of models) {
    const tr = document.createElement("tr");
    cell(tr, String(m.rank));
    cell(tr, m.model, "model");
    cell(tr, fmt(m.predicted), "num");
    cell(tr, m.low === null || m.low === undefined ? "-" : `[${fmt(m.low)}, ${fmt(m.high)}]`, "num");
    cell(tr, fmt(m.score), "num");
    cell(tr, fmt(m.observed), "num");
    body.appendChild(tr);
  }
}

function svg(name, attrs, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

function renderChart(models) {
  // one bar per model: the predicted score (the final score without one), its 90% interval as a whisker
  const value = (m) => (m.predicted !== null && m.predicted !== undefined ? m.predicted : m.score);
  const shown = models.filter((m) => value(m) !== null && value(m) !== undefined);
  const box = $("chart");
  box.replaceChildren();
  if (!shown.length) return;
  const lows = shown.map((m) => (m.low ?? value(m))), highs = shown.map((m) => (m.high ?? value(m)));
  let lo = Math.min(...lows, ...shown.map(value)), hi = Math.max(...highs, ...shown.map(value));
  if (hi === lo) { hi += 1; lo -= 1; }
  const label = 260, width = 760, row = 22, plot = width - label - 20;
  const x = (v) => label + ((v - lo) / (hi - lo)) * plot;
  const chart = svg("svg", {width, height: shown.length * row + 30, viewBox: `0 0 ${width} ${shown.length * row + 30}`,
                            role: "img"}, box);
  svg("title", {}, chart).textContent = "predicted score per model, with 90% interval";
  shown.forEach((m, i) => {
    const y = 10 + i * row;
    const name = svg("text", {x: label - 6, y: y + 14, "text-anchor": "end", class: "label"}, chart);
    name.textContent = m.model.length > 38 ? m.model.slice(0, 36) + "..." : m.model;
    svg("rect", {x: label, y: y + 3, width: Math.max(1, x(value(m)) - label), height: row - 8, class: "bar"}, chart);
    if (m.low !== null && m.low !== undefined) {
      svg("line", {x1: x(m.low), x2: x(m.high), y1: y + row / 2, y2: y + row / 2, class: "whisker"}, chart);
      svg("line", {x1: x(m.low), x2: x(m.low), y1: y + 5, y2: y + row - 5, class: "whisker"}, chart);
      svg("line", {x1: x(m.high), x2: x(m.high), y1: y + 5, y2: y + row - 5, class: "whisker"}, chart);
    }
  });
  const axis = 10 + shown.length * row + 14;
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg("text", {x: x(v), y: axis, "text-anchor": "middle", class: "tick"}, chart).textContent = fmt(v);
  }
}

async function rank(event) {
  event.preventDefault();
  let body;
  try { body = request(); } catch (e) { setStatus(e.message, true); return; }
  setStatus("ranking...", false);
  $("rank-button").disabled = true;
  try {
    const doc = await api("/rank", body);
    $("result-title").textContent = `Top ${doc.models.length} of ${doc.info.n_models} models on ${doc.zoo}`;
    const notes = $("notes");
    notes.replaceChildren();
    for (const n of doc.notes) {
      const li = document.createElement("li");
      li.textContent = n;
      notes.appendChild(li);
    }
    renderTable(doc.models);
    renderChart(doc.models);
    $("result").hidden = false;
    setStatus(`ranked ${doc.info.n_models} models`, false);
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    $("rank-button").disabled = false;
  }
}

async function start() {
  $("task-form").addEventListener("submit", rank);
  $("mode-describe").addEventListener("change", showMode);
  $("mode-known").addEventListener("change", showMode);
  $("zoo").addEventListener("change", showZoo);
  try {
    const doc = await api("/zoos");
    for (const z of doc.zoos) {
      zoos[z.name] = z;
      const opt = document.createElement("option");
      opt.value = z.name;
      opt.textContent = `${z.name} (${z.models.toLocaleString()} models)`;
      opt.selected = z.name === doc.default;
      $("zoo").appendChild(opt);
    }
    showZoo();
    document.body.dataset.ready = "true";
  } catch (e) {
    setStatus(`cannot list the zoos: ${e.message}`, true);
  }
}

document.addEventListener("DOMContentLoaded", start);
