// The deploy picker of one environment ([data-deploy-picker] inside form.deploy).
//
// Its choices come from GET /api/services/<id>/candidates/?environment=<slug>, which reads
// the registry first: loaded when the page opens and again when the list is opened after a
// while, so a push a minute ago is offered. Choosing one fills the digest field (what the
// deploy posts) and says which digest a tag resolved to. For a protected environment the
// digests not promoted into it are listed disabled, with the server's reason.

const STALE_MS = 30_000;
const GROUPS = { promoted: "Promoted here", environment: "Running elsewhere", tag: "Tags" };

function short(digest) {
  return digest.slice(7, 19);
}

export function deployPicker(root) {
  const form = root.closest("form");
  const select = root.querySelector("select");
  const note = root.querySelector("[data-picker-note]");
  const digest = form.querySelector("input[name=digest]");
  let loadedAt = 0, loading = null, choices = [];

  function say(text, kind) {
    note.textContent = text;
    note.className = "small-text " + (kind || "muted");
  }

  async function load() {
    // A read already on its way may have asked the registry before a push: read again.
    while (loading) await loading;
    loading = (async () => {
      try {
        const response = await fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        const data = await response.json().catch(() => null);
        if (!response.ok) throw new Error((data && (data.detail || data.error)) || "HTTP " + response.status);
        loadedAt = Date.now();
        fill(data);
      } catch (err) {
        say("Could not load the choices (" + err.message + "): paste a digest below.", "field-error");
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  function fill(data) {
    const chosen = select.value;
    choices = data.candidates;
    const first = document.createElement("option");
    first.value = "";
    first.textContent = choices.length ? "Choose what to deploy…" : "Nothing to offer yet: paste a digest below";
    const groups = {};
    choices.forEach((choice, index) => {
      const kind = choice.kind;
      if (!groups[kind]) {
        groups[kind] = document.createElement("optgroup");
        groups[kind].label = GROUPS[kind] || kind;
      }
      const option = document.createElement("option");
      option.value = String(index);
      option.textContent = choice.label + " · " + short(choice.digest) + (choice.allowed ? "" : " — " + choice.reason);
      option.disabled = !choice.allowed;
      option.dataset.digest = choice.digest;
      if (!choice.allowed) option.title = choice.reason;
      groups[kind].appendChild(option);
    });
    select.replaceChildren(first, ...["promoted", "environment", "tag"].filter((k) => groups[k]).map((k) => groups[k]));
    const again = [...select.options].find((o) => o.value && o.dataset.digest === digest.value && !o.disabled);
    select.value = again ? again.value : (chosen && select.querySelector('option[value="' + chosen + '"]:not([disabled])') ? chosen : "");
    const refused = choices.filter((c) => !c.allowed).length;
    say((data.problem ? data.problem + " " : "") +
      (data.protected && refused ? refused + " choice(s) greyed: not promoted into this environment." : "Read from the registry just now."),
      data.problem ? "field-error" : "muted");
  }

  select.addEventListener("change", () => {
    const choice = choices[Number(select.value)];
    if (!select.value || !choice) return;
    digest.value = choice.digest;
    digest.dispatchEvent(new Event("input", { bubbles: true }));
    const what = choice.kind === "tag" ? "Tag " + choice.name + " is " : choice.label + ": ";
    say(what + choice.digest, "resolved");
  });
  const refresh = () => { if (Date.now() - loadedAt > STALE_MS) load(); };
  select.addEventListener("focus", refresh);
  select.addEventListener("pointerdown", refresh);
  load();
  root.berthPicker = { load };
}
