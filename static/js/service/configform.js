// The config form of one environment on the service page (form[data-config-form]).
//
// One document object is the truth. The form's controls ([data-path], [data-type]), the
// JSON tab (textarea[name=document], what forms.js posts) and the YAML tab
// (textarea[data-yaml], parsed here by the vendored js-yaml) are all views of it: editing
// any rewrites the others, so the server validates exactly what the person sees, and keys
// the form does not know go through untouched. A control being typed into is never
// rewritten under the cursor. Text that does not parse stays as typed, with the error at
// its line; the other views keep the last valid document, and saving is refused until
// the text parses (form.dataset.invalidText, read by forms.js).

import { load as loadYaml, dump as dumpYaml } from "../../vendor/js-yaml/js-yaml.mjs";
import { splitWords, joinWords } from "./words.js";
import { differences } from "./diff.js";

const STRATEGY_KEYS = {
  rolling: ["batch_size"],
  swarm: ["parallelism", "delay", "order", "monitor", "failure_action"],
};

function getPath(doc, path) {
  return path.split(".").reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), doc);
}

function setPath(doc, path, value) {
  const keys = path.split(".");
  let obj = doc;
  for (const key of keys.slice(0, -1)) {
    if (!obj[key] || typeof obj[key] !== "object" || Array.isArray(obj[key])) obj[key] = {};
    obj = obj[key];
  }
  const last = keys[keys.length - 1];
  if (value === undefined) delete obj[last];
  else obj[last] = value;
}

// A control's value for the document; undefined leaves the key out (the server default).
function readControl(el) {
  const raw = el.value;
  switch (el.dataset.type) {
    case "int":
    case "float": {
      if (raw.trim() === "") return undefined;
      const number = Number(raw);
      return Number.isFinite(number) ? number : raw;
    }
    case "words":
      return raw.trim() ? splitWords(raw) : [];
    case "lines":
      return raw.split("\n").map((s) => s.trim()).filter(Boolean);
    case "pairs": {
      const pairs = {};
      raw.split("\n").map((s) => s.trim()).filter(Boolean).forEach((line) => {
        const at = line.indexOf("=");
        if (at < 0) pairs[line] = "";
        else pairs[line.slice(0, at).trim()] = line.slice(at + 1);
      });
      return pairs;
    }
    default:
      return raw.trim() === "" ? undefined : raw;
  }
}

function writeControl(el, value) {
  if (document.activeElement === el) return;
  let text;
  switch (el.dataset.type) {
    case "words": text = Array.isArray(value) ? joinWords(value) : (value ?? ""); break;
    case "lines": text = Array.isArray(value) ? value.join("\n") : ""; break;
    case "pairs": text = value && typeof value === "object" ? Object.entries(value).map(([k, v]) => k + "=" + v).join("\n") : ""; break;
    default: text = value === undefined || value === null ? "" : String(value);
  }
  if (el.tagName === "SELECT") {
    if (![...el.options].some((o) => o.value === text)) text = el.options[0].value;
  }
  if (el.value !== text) el.value = text;
}

export function toYaml(doc) {
  return dumpYaml(doc, { lineWidth: -1, noRefs: true });
}

// The document a YAML text holds, or {error, line, column, snippet} (line and column from 1).
export function parseYaml(text) {
  let parsed;
  try {
    parsed = loadYaml(text);
  } catch (err) {
    const mark = err.mark;
    return {
      error: err.reason || err.message,
      line: mark ? mark.line + 1 : null,
      column: mark ? mark.column + 1 : null,
      snippet: mark ? mark.snippet || "" : "",
    };
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    const what = Array.isArray(parsed) ? "a list" : parsed === null || parsed === undefined ? "empty" : "a single value";
    return { error: "the configuration must be a mapping of keys (replicas: 1, …), not " + what, line: 1, column: 1, snippet: "" };
  }
  return { doc: parsed };
}

function healthKind(health) {
  if (!health || typeof health !== "object") return "";
  if (health.command) return "command";
  return "http";
}

export function configForm(form) {
  const textarea = form.querySelector("textarea[name=document]");
  const textState = form.querySelector("[data-text-state]");
  const textHelp = textState ? textState.textContent : "";
  const yamlArea = form.querySelector("textarea[data-yaml]");
  const yamlState = form.querySelector("[data-yaml-state]");
  const yamlHelp = yamlState ? yamlState.innerHTML : "";
  const rows = form.querySelector("[data-env-rows]");
  const diffBox = form.querySelector("[data-copy-diff]");
  const startFrom = form.querySelector("[data-start-from]");
  let doc = {};
  let source = null; // {name, document} once "start from" chose one
  try { doc = JSON.parse(textarea.value); } catch { doc = {}; }

  function writeJson() {
    textarea.value = JSON.stringify(doc, null, 2);
    if (textState) { textState.textContent = textHelp; textState.className = "muted small-text"; }
  }

  function yamlValid() {
    delete form.dataset.invalidText;
    if (!yamlArea) return;
    yamlArea.classList.remove("invalid");
    yamlArea.removeAttribute("aria-invalid");
    yamlState.innerHTML = yamlHelp;
  }

  function writeYaml() {
    if (!yamlArea) return;
    yamlArea.value = toYaml(doc);
    yamlValid();
  }

  // Both text tabs from the document (after a change in the form or "start from").
  function writeText() {
    writeJson();
    writeYaml();
  }

  // The YAML does not parse: say where, keep the text, refuse to save until it does.
  function yamlInvalid(problem) {
    const where = problem.line ? "line " + problem.line + ", column " + problem.column + ": " : "";
    form.dataset.invalidText = "The YAML does not parse (" + where + problem.error + "): fix it before saving.";
    yamlArea.classList.add("invalid");
    yamlArea.setAttribute("aria-invalid", "true");
    const note = document.createElement("p");
    note.className = "small-text text-error";
    note.textContent = "Not valid YAML yet, " + where + problem.error +
      ". The form and the JSON keep the last valid document; your text stays here.";
    const parts = [note];
    if (problem.line) {
      const show = document.createElement("button");
      show.type = "button";
      show.className = "small";
      show.dataset.yamlLine = String(problem.line);
      show.textContent = "Show line " + problem.line;
      note.append(" ", show);
    }
    if (problem.snippet) {
      const pre = document.createElement("pre");
      pre.className = "yaml-snippet";
      pre.textContent = problem.snippet;
      parts.push(pre);
    }
    yamlState.replaceChildren(...parts);
  }

  function envRow(name, value, secret) {
    const row = document.createElement("tr");
    row.innerHTML =
      '<td><input data-env-name aria-label="Variable name" spellcheck="false" autocomplete="off"></td>' +
      '<td><input data-env-value aria-label="Value" spellcheck="false" autocomplete="off"></td>' +
      '<td><label class="inline"><input type="checkbox" data-env-secret> <span class="sr-only">Secret</span></label></td>' +
      '<td><button type="button" class="small link" data-env-remove>Remove</button></td>';
    const [nameInput, valueInput, secretInput] = row.querySelectorAll("input");
    nameInput.value = name;
    valueInput.value = value;
    secretInput.checked = secret;
    labelRow(row);
    return row;
  }

  function labelRow(row) {
    const name = row.querySelector("[data-env-name]").value.trim();
    const value = row.querySelector("[data-env-value]");
    const secret = row.querySelector("[data-env-secret]");
    value.dataset.path = "env." + name;
    value.type = secret.checked ? "password" : "text";
    value.setAttribute("aria-label", "Value of " + (name || "the new variable"));
    secret.setAttribute("aria-label", "Keep " + (name || "the new variable") + " secret");
    row.querySelector("[data-env-remove]").setAttribute("aria-label", "Remove " + (name || "this variable"));
  }

  function renderEnv() {
    if (rows.contains(document.activeElement)) return;
    const env = doc.env && typeof doc.env === "object" ? doc.env : {};
    const secret = new Set(Array.isArray(doc.secret_env) ? doc.secret_env : []);
    rows.replaceChildren(...Object.entries(env).map(([k, v]) => envRow(k, String(v), secret.has(k))));
  }

  function readEnv() {
    const env = {}, secret = [];
    rows.querySelectorAll("tr").forEach((row) => {
      if (!row.querySelector("[data-env-name]")) return; // a field error shown under a row
      labelRow(row);
      const name = row.querySelector("[data-env-name]").value.trim();
      if (!name) return;
      env[name] = row.querySelector("[data-env-value]").value;
      if (row.querySelector("[data-env-secret]").checked) secret.push(name);
    });
    doc.env = env;
    doc.secret_env = secret;
  }

  function showSections() {
    const kind = healthKind(doc.health_check);
    form.querySelectorAll("[data-health]").forEach((el) => {
      el.hidden = !(kind && (el.dataset.health === "any" || el.dataset.health === kind));
    });
    const strategy = (doc.strategy && doc.strategy.type) || (typeof doc.strategy === "string" ? doc.strategy : "rolling");
    form.querySelectorAll("[data-strategy]").forEach((el) => { el.hidden = el.dataset.strategy !== strategy; });
  }

  // withEnv: rebuild the variables table too (only when the document came from elsewhere:
  // the text tab, "start from", the page; never while someone works in the form).
  function render(withEnv = true) {
    form.querySelectorAll("[data-path][data-type]").forEach((el) => {
      const value = el.dataset.type === "strategy"
        ? (typeof doc.strategy === "string" ? doc.strategy : (doc.strategy || {}).type)
        : getPath(doc, el.dataset.path);
      writeControl(el, value);
    });
    const kind = form.querySelector("[data-health-kind]");
    if (kind && document.activeElement !== kind) kind.value = healthKind(doc.health_check);
    if (withEnv) renderEnv();
    showSections();
    showDiff();
  }

  function showDiff() {
    if (!diffBox) return;
    if (!source) { diffBox.hidden = true; return; }
    const changes = differences(source.document, doc);
    diffBox.hidden = false;
    diffBox.replaceChildren();
    const head = document.createElement("p");
    head.innerHTML = "<strong></strong>";
    head.firstChild.textContent = changes.length
      ? "Differences from " + source.name + "'s config (" + changes.length + "):"
      : "No differences from " + source.name + "'s config yet: change what must differ here (ports, secrets) before saving.";
    diffBox.appendChild(head);
    if (changes.length) {
      const list = document.createElement("ul");
      changes.forEach((change) => {
        const item = document.createElement("li");
        const code = document.createElement("code");
        code.textContent = change.path;
        item.append(code, ": " + (change.before ?? "(none)") + " → " + (change.after ?? "(removed)"));
        list.appendChild(item);
      });
      diffBox.appendChild(list);
    }
    const secrets = (Array.isArray(doc.secret_env) ? doc.secret_env : []).filter((n) => (doc.env || {})[n] === "********");
    if (secrets.length) {
      const note = document.createElement("p");
      note.className = "small-text";
      note.textContent = "Secret values are not copied: give " + secrets.join(", ") + " here.";
      diffBox.appendChild(note);
    }
  }

  function fromControl(el) {
    if (el.matches("[data-health-kind]")) {
      const kind = el.value;
      const old = doc.health_check && typeof doc.health_check === "object" ? doc.health_check : {};
      const timing = {};
      for (const key of ["interval", "timeout", "retries", "start_period"]) if (key in old) timing[key] = old[key];
      if (!kind) doc.health_check = null;
      else if (kind === "http") doc.health_check = { http_path: old.http_path || "/health", ...(old.port ? { port: old.port } : {}), ...timing };
      else doc.health_check = { command: old.command || [], ...timing };
    } else if (el.dataset.type === "strategy") {
      const old = doc.strategy && typeof doc.strategy === "object" ? doc.strategy : {};
      const kept = { type: el.value };
      for (const key of STRATEGY_KEYS[el.value] || []) if (key in old) kept[key] = old[key];
      doc.strategy = kept;
    } else if (el.closest("[data-env-rows]")) {
      readEnv();
    } else if (el.dataset.path && el.dataset.type) {
      setPath(doc, el.dataset.path, readControl(el));
    } else {
      return false;
    }
    return true;
  }

  const fields = form.querySelector("[data-panel=form]");
  fields.addEventListener("input", (event) => {
    if (fromControl(event.target)) { writeText(); showSections(); showDiff(); }
  });
  fields.addEventListener("change", (event) => {
    if (!fromControl(event.target)) return;
    writeText();
    // A change inside the variables table never rebuilds it: focus may be moving to the
    // next cell of the same table right now.
    if (rows.contains(event.target)) { showSections(); showDiff(); } else render(false);
  });
  form.querySelector("[data-env-add]").addEventListener("click", () => {
    const row = envRow("", "", false);
    rows.appendChild(row);
    row.querySelector("input").focus();
  });
  rows.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-env-remove]");
    if (!remove) return;
    remove.closest("tr").remove();
    readEnv();
    writeText();
    showDiff();
  });

  textarea.addEventListener("input", () => {
    try {
      const parsed = JSON.parse(textarea.value);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("the configuration must be an object");
      doc = parsed;
      render();
      writeYaml();
      if (textState) { textState.textContent = textHelp; textState.className = "muted small-text"; }
    } catch (err) {
      if (textState) {
        textState.textContent = "Not valid JSON yet (" + err.message + "): the form keeps the last valid document.";
        textState.className = "small-text text-error";
      }
    }
  });

  if (yamlArea) {
    yamlArea.addEventListener("input", () => {
      const result = parseYaml(yamlArea.value);
      if (result.error) { yamlInvalid(result); return; }
      doc = result.doc;
      render();
      writeJson();
      yamlValid();
    });
    // "Show line N": select that line of the text, the cursor put there on request only.
    yamlState.addEventListener("click", (event) => {
      const button = event.target.closest("[data-yaml-line]");
      if (!button) return;
      const lines = yamlArea.value.split("\n");
      const line = Math.min(Number(button.dataset.yamlLine), lines.length) - 1;
      const start = lines.slice(0, line).reduce((n, l) => n + l.length + 1, 0);
      yamlArea.focus();
      yamlArea.setSelectionRange(start, start + lines[line].length);
    });
  }

  if (startFrom) {
    const sources = JSON.parse(form.querySelector("script[type='application/json']").textContent);
    startFrom.addEventListener("change", () => {
      const chosen = sources.find((s) => s.slug === startFrom.value);
      source = chosen ? { name: chosen.name, document: chosen.document } : null;
      doc = structuredClone(chosen ? chosen.document : JSON.parse(textarea.defaultValue));
      writeText();
      render();
    });
  }

  // Tabs: Form, JSON and YAML, with the arrow keys moving between them. A text that does
  // not parse is not left: the other tabs would show something else than what was typed.
  const tabs = [...form.querySelectorAll("[role=tab]")];
  function unparsed() {
    const current = tabs.find((t) => t.getAttribute("aria-selected") === "true");
    if (!current) return null;
    if (current.dataset.tab === "text" && textState && textState.classList.contains("text-error")) return textarea;
    if (current.dataset.tab === "yaml" && form.dataset.invalidText) return yamlArea;
    return null;
  }
  function select(tab) {
    const stay = tab.getAttribute("aria-selected") !== "true" && unparsed();
    if (stay) {
      stay.focus();
      return;
    }
    tabs.forEach((t) => {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      form.querySelector("[data-panel=" + t.dataset.tab + "]").hidden = !on;
    });
    tab.focus();
  }
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      select(tabs[(index + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length]);
    });
  });

  render();
  writeText();
  textarea.defaultValue = textarea.value; // a pristine form is not "being typed into"
  if (yamlArea) yamlArea.defaultValue = yamlArea.value;
  form.dataset.ready = ""; // for tests and styles: the form and its tabs work now
}
