// Berth: a service's entry points, live. Each [data-traffic] block polls its API URL
// (GET /api/services/<id>/traffic/?environment=<slug>) every second while the page is
// visible and redraws the backends: replica, port, colour, deployment, state (ready,
// drain, maint), the proxy's health check, weight and connections. Traffic moving
// during a deployment shows here as it happens.

const COLUMNS = ["slot", "port", "colour", "deployment", "state", "health", "weight", "sessions"];
// Each cell's column name, shown before it when the table reflows on a phone.
const LABELS = {
  port: "Port", colour: "Colour", deployment: "Deployment", state: "State",
  health: "Health", weight: "Weight", sessions: "Connections",
};

function row(backend) {
  const tr = document.createElement("tr");
  tr.className = "state-" + backend.state;
  for (const key of COLUMNS) {
    const td = document.createElement("td");
    if (LABELS[key]) td.dataset.label = LABELS[key];
    if (key === "slot") {
      td.append(String(backend.slot) + " ");
      const code = document.createElement("code");
      code.textContent = backend.name;
      td.append(code);
    } else {
      td.textContent = key === "deployment" ? "#" + backend.deployment : String(backend[key]);
    }
    tr.append(td);
  }
  return tr;
}

function draw(root, entries) {
  root.querySelectorAll(".entry-point").forEach((block, index) => {
    const entry = entries[index];
    if (!entry) return;
    block.querySelector("[data-proxy]").textContent = "proxy " + entry.proxy;
    const body = block.querySelector("[data-backends]");
    if (entry.backends.length) {
      body.replaceChildren(...entry.backends.map(row));
    }
  });
}

function poll(root) {
  let busy = false;
  const tick = async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(root.dataset.traffic, { headers: { Accept: "application/json" } });
      if (response.ok) draw(root, (await response.json()).entry_points);
    } catch (error) {
      // The next tick tries again; the table keeps the last known state.
    } finally {
      busy = false;
    }
  };
  setInterval(tick, 1000);
}

document.querySelectorAll("[data-traffic]").forEach(poll);
