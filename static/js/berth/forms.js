// Berth: forms that talk to the REST API in place.
// - form[data-api]: posted as JSON to that API URL; the answer shows in its [data-result],
//   so a sign-off never reloads the page (forms inside fragments work too). Inside such a
//   form, a [data-json] field is sent parsed (a bad document is refused here, naming the
//   field; a form whose dataset.invalidText is set, e.g. by a text tab that does not parse,
//   is refused with that text); form[data-typed-confirm="Ops"] sends confirm=true only once its
//   [data-typed-confirm-input] holds that name, and refuses otherwise;
//   form[data-redirect-deployment="/deployments/0/"] opens the deployment the API returns;
//   form[data-done="Restarted:"] puts that before the description of the answer;
//   form[data-redirect="/services/{name}/"] opens that URL, {field} taken from the answer.
//   A refusal naming fields also shows each message on its field: the control whose
//   data-path or name is the field (config paths such as "health_check.port" or
//   "env.DB_PASSWORD" fall back to their parent, "volumes.2" to "volumes").
//   form[data-method="DELETE"] sends that method instead of POST.
// - form[data-confirm]: asks before submitting.
// - button[data-copy="#id"]: copies that element's text, and says so in the
//   [data-copy-result] next to it.

function apiError(data, status) {
  if (!data || typeof data !== "object") return "HTTP " + status;
  if (data.error) return data.error;
  if (data.detail) return data.detail;
  return Object.entries(data)
    .map(([field, messages]) => (field === "non_field_errors" ? "" : field + ": ") + [].concat(messages).join(" "))
    .join(" · ");
}

// The API answers with the object it made or changed; its shape says which.
function describe(data) {
  if (data.strategy !== undefined && data.id) return "Deployment #" + data.id + " queued: opening it…";
  if (data.revision !== undefined && data.document) return "Saved revision " + data.revision + ".";
  if (data.restarted !== undefined) return "Restarted " + data.restarted + " replica(s).";
  if (data.stopped !== undefined) return "Stopped " + data.stopped + " replica(s).";
  if (data.repository !== undefined && data.name) return "Created service " + data.name + ".";
  if (data.target_reference) {
    return "Promoted to " + data.target_environment_name + ": " + (data.tags || []).join(", ") + " → " +
      data.target_reference;
  }
  if (data.repositories !== undefined) return "Read " + data.repositories + " repositories.";
  if (data.state !== undefined && data.name !== undefined) return data.name + " is " + data.state + ".";
  return "Done.";
}

// The request body; throws an Error (shown in place) when the form must not go out.
function formBody(form) {
  if (form.dataset.invalidText) throw new Error(form.dataset.invalidText);
  const body = {};
  new FormData(form).forEach((value, key) => {
    if (key === "csrfmiddlewaretoken" || value === "") return;
    const field = form.elements[key];
    if (field && field.dataset && field.dataset.json !== undefined) {
      try {
        body[key] = JSON.parse(value);
      } catch (err) {
        throw new Error(key + ": not valid JSON (" + err.message + ").");
      }
    } else {
      body[key] = value;
    }
  });
  const expected = form.dataset.typedConfirm;
  if (expected !== undefined) {
    const typed = form.querySelector("[data-typed-confirm-input]");
    if (!typed || typed.value.trim() !== expected) {
      if (typed) typed.focus();
      throw new Error(expected + " is protected: type " + expected + " in the confirmation box to go ahead.");
    }
    body.confirm = true;
  }
  return body;
}

function clearFieldErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  form.querySelectorAll("[aria-invalid=true]").forEach((el) => {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  });
}

function fieldFor(form, key) {
  const parts = key.split(".");
  while (parts.length) {
    const path = parts.join(".");
    const found = form.querySelector('[data-path="' + CSS.escape(path) + '"]') ||
      form.querySelector('[name="' + CSS.escape(path) + '"]:not([type=hidden])');
    if (found) return found;
    parts.pop();
  }
  return null;
}

let errorIds = 0;
export function showFieldErrors(form, data) {
  clearFieldErrors(form);
  if (!data || typeof data !== "object") return 0;
  let placed = 0;
  for (const [key, messages] of Object.entries(data)) {
    const field = fieldFor(form, key);
    if (!field || field.closest("[hidden]")) continue;
    const note = document.createElement("p");
    note.className = "field-error";
    note.id = "field-error-" + ++errorIds;
    note.textContent = (field.dataset.path && field.dataset.path !== key ? key + ": " : "") +
      [].concat(messages).join(" ");
    const anchor = field.closest("label, .field, tr") || field;
    if (anchor.matches("div.field")) {
      anchor.appendChild(note);
    } else if (anchor.tagName !== "TR") {
      anchor.after(note);
    } else {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.colSpan = anchor.children.length;
      cell.appendChild(note);
      row.className = "field-error";
      row.appendChild(cell);
      anchor.after(row);
    }
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", note.id);
    placed++;
  }
  const first = form.querySelector("[aria-invalid=true]");
  if (first && form.dataset.focusError !== undefined) first.focus();
  return placed;
}

function show(result, kind, text) {
  if (!result) return;
  result.className = "result msg" + (kind ? " " + kind : "");
  result.textContent = text;
}

async function submitApiForm(form) {
  const result = form.querySelector("[data-result]");
  const button = form.querySelector("button[type=submit], button:not([type])");
  let body;
  try {
    body = formBody(form);
  } catch (err) {
    show(result, "error", err.message);
    return;
  }
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  if (button) { button.disabled = true; button.dataset.busy = ""; }
  clearFieldErrors(form);
  show(result, "", "Working…");
  try {
    const response = await fetch(form.dataset.api, {
      method: form.dataset.method || "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
      },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      if (response.status === 400) showFieldErrors(form, data);
      throw new Error(apiError(data, response.status));
    }
    show(result, "success", (form.dataset.done ? form.dataset.done + " " : "") + describe(data || {}));
    form.dispatchEvent(new CustomEvent("berth:api-done", { bubbles: true, detail: data }));
    if (form.dataset.redirect && data) {
      location.assign(form.dataset.redirect.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(data[key] ?? "")));
    } else if (form.dataset.redirectDeployment && data && data.id) {
      location.assign(form.dataset.redirectDeployment.replace(/\/0\/$/, "/" + data.id + "/"));
    } else if (form.hasAttribute("data-reload-page")) {
      setTimeout(() => location.reload(), 600);
    }
  } catch (err) {
    show(result, "error", err.message);
  } finally {
    // Unless the answer disabled it on purpose (a container's Stop once it stopped).
    if (button && button.dataset.busy !== undefined) button.disabled = false;
    if (button) delete button.dataset.busy;
  }
}

export function enhanceForms() {
  // Delegated, so forms that arrive later in fragments work too.
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    submitApiForm(form);
  });
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    const said = button.parentElement.querySelector("[data-copy-result]");
    const text = source ? source.textContent.trim() : "";
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      const range = document.createRange(); // no clipboard API (not a secure context)
      range.selectNodeContents(source);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      copied = document.execCommand("copy");
    }
    if (said) said.textContent = copied ? "Copied." : "Selected: press Ctrl+C to copy.";
  });
  document.querySelectorAll("form[data-confirm]:not([data-api])").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}
