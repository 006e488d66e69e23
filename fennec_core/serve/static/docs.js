// Interactive API docs built from this server's own /openapi.json (no CDN, no library).
"use strict";

let spec = null;

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function resolve(schema) {
  if (schema && schema.$ref) return resolve(spec.components.schemas[schema.$ref.split("/").pop()]);
  return schema || {};
}

function example(schema, depth) {
  // a request body to start from: defaults where the schema has them, else required fields only
  schema = resolve(schema);
  if ((depth || 0) > 4) return null;
  if (schema.default !== undefined) return schema.default;
  if (schema.anyOf) return example(schema.anyOf.find((s) => s.type !== "null") || schema.anyOf[0], depth);
  if (schema.type === "object" && schema.properties) {
    const out = {};
    for (const name of schema.required || []) out[name] = example(schema.properties[name], (depth || 0) + 1);
    return out;
  }
  if (schema.type === "array") return [example(schema.items, (depth || 0) + 1)];
  if (schema.enum) return schema.enum[0];
  return {string: "", integer: 1, number: 0.5, boolean: false}[schema.type] ?? null;
}

async function send(method, path, form, out) {
  let url = path;
  const query = new URLSearchParams();
  for (const input of form.querySelectorAll("input[data-in]")) {
    if (!input.value) continue;
    if (input.dataset.in === "path") url = url.replace(`{${input.name}}`, encodeURIComponent(input.value));
    else query.set(input.name, input.value);
  }
  if ([...query].length) url += "?" + query;
  const opts = {method: method.toUpperCase(), headers: {}};
  const body = form.querySelector("textarea");
  if (body) { opts.body = body.value; opts.headers["Content-Type"] = "application/json"; }
  const token = document.getElementById("token").value;
  if (token && path.endsWith("/results")) opts.headers.Authorization = `Bearer ${token}`;
  out.textContent = "...";
  try {
    const res = await fetch(url, opts);
    const text = await res.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
    out.textContent = `${res.status} ${res.statusText}\n${shown}`;
  } catch (e) {
    out.textContent = `request failed: ${e.message}`;
  }
}

function operation(method, path, op) {
  const box = el("fieldset", {class: "operation"});
  box.appendChild(el("legend", {}, `${method.toUpperCase()} ${path}`));
  box.appendChild(el("p", {}, op.summary || ""));
  if (op.description) box.appendChild(el("p", {class: "hint"}, op.description));
  const form = el("form", {});
  for (const p of op.parameters || []) {
    if (p.in === "header") continue;
    const label = el("label", {}, `${p.name} (${p.in}${p.required ? ", required" : ""}) `);
    const input = el("input", {name: p.name, "data-in": p.in, placeholder: String(resolve(p.schema).default ?? "")});
    label.appendChild(input);
    form.appendChild(label);
  }
  const body = op.requestBody && op.requestBody.content["application/json"];
  if (body) {
    form.appendChild(el("label", {}, "JSON body"));
    const area = el("textarea", {rows: "6"});
    area.value = JSON.stringify(example(body.schema), null, 2);
    form.appendChild(area);
    const schema = el("details", {});
    schema.appendChild(el("summary", {}, "request schema"));
    schema.appendChild(el("pre", {}, JSON.stringify(resolve(body.schema), null, 2)));
    form.appendChild(schema);
  }
  const out = el("pre", {class: "response"});
  const button = el("button", {type: "submit"}, "Send");
  form.appendChild(button);
  form.addEventListener("submit", (e) => { e.preventDefault(); send(method, path, form, out); });
  box.appendChild(form);
  box.appendChild(out);
  return box;
}

async function start() {
  const root = document.getElementById("operations");
  try {
    spec = await (await fetch("/openapi.json")).json();
  } catch (e) {
    root.textContent = `cannot read /openapi.json: ${e.message}`;
    return;
  }
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) root.appendChild(operation(method, path, op));
  }
}

document.addEventListener("DOMContentLoaded", start);
