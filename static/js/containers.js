// Berth: one container's page. The header's badges follow the environment's events
// (berth.js, [data-events-socket]); this file adds:
// - [data-tabs]: Logs / Stats / Inspect, remembered in the URL's #fragment.
// - [data-stats-socket]: CPU, memory and network sparklines on <canvas> from the stats
//   socket, the last SAMPLES samples; reconnects with backoff, and when the container
//   starts again.
// - [data-inspect-url]: the inspect document from the API (secrets masked by the server),
//   loaded when its tab is first opened.
// - A log viewer that ended (container exited) follows again when the container starts.
(function () {
  "use strict";

  const SAMPLES = 120;
  const COLOURS = { cpu: "#2f80ed", memory: "#8e44ad", rx: "#1e9e5a", tx: "#2f80ed" };

  function bytes(n) {
    if (n === null || n === undefined || Number.isNaN(n)) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  }

  function tabs(nav) {
    const buttons = Array.from(nav.querySelectorAll("[data-tab]"));
    function select(name, push) {
      const chosen = buttons.find((b) => b.dataset.tab === name) || buttons[0];
      buttons.forEach((button) => {
        const on = button === chosen;
        button.setAttribute("aria-selected", String(on));
        button.tabIndex = on ? 0 : -1;
        document.getElementById(button.getAttribute("aria-controls")).hidden = !on;
      });
      if (push) history.replaceState(null, "", "#" + chosen.dataset.tab);
      document.dispatchEvent(new CustomEvent("berth:tab", { detail: chosen.dataset.tab }));
    }
    buttons.forEach((button) => button.addEventListener("click", () => select(button.dataset.tab, true)));
    nav.addEventListener("keydown", (event) => {
      const at = buttons.indexOf(document.activeElement);
      if (at < 0 || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
      const next = buttons[(at + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
      next.focus();
      select(next.dataset.tab, true);
    });
    select(location.hash.slice(1), false);
  }

  // One sparkline: every series scaled to the largest value shown (at least `floor`).
  function drawSpark(canvas, series, floor) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.strokeStyle = "#e1e6ec";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, height - 0.5);
    ctx.lineTo(width, height - 0.5);
    ctx.stroke();
    let max = floor;
    series.forEach((s) => s.values.forEach((v) => { if (v > max) max = v; }));
    max *= 1.15; // headroom: the top of the line stays visible
    const step = width / (SAMPLES - 1);
    series.forEach((s) => {
      const values = s.values;
      if (!values.length) return;
      const x0 = width - (values.length - 1) * step;
      const y = (v) => height - 2 - (Math.max(0, v) / max) * (height - 6);
      ctx.beginPath();
      values.forEach((v, i) => (i ? ctx.lineTo(x0 + i * step, y(v)) : ctx.moveTo(x0, y(v))));
      ctx.strokeStyle = s.colour;
      ctx.lineWidth = 1.5;
      ctx.lineJoin = "round";
      ctx.stroke();
      ctx.lineTo(width, height);
      ctx.lineTo(x0, height);
      ctx.closePath();
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = s.colour;
      ctx.fill();
      ctx.globalAlpha = 1;
    });
  }

  function stats(root) {
    const state = root.querySelector("[data-stats-state]");
    const field = (name) => root.querySelector('[data-stat="' + name + '"]');
    const spark = (name) => root.querySelector('[data-spark="' + name + '"]');
    const samples = { cpu: [], memory: [], rx: [], tx: [] };
    let socket = null, ended = false, delay = 1000, timer = 0;

    function setState(text, kind) {
      state.textContent = text;
      state.className = "stat-state live small-text " + (kind || "");
    }

    function draw() {
      drawSpark(spark("cpu"), [{ values: samples.cpu, colour: COLOURS.cpu }], 5);
      drawSpark(spark("memory"), [{ values: samples.memory, colour: COLOURS.memory }], 1024 * 1024);
      drawSpark(spark("net"), [{ values: samples.rx, colour: COLOURS.rx }, { values: samples.tx, colour: COLOURS.tx }], 1024);
    }

    function add(m) {
      const push = (name, value) => {
        samples[name].push(Number(value) || 0);
        if (samples[name].length > SAMPLES) samples[name].shift();
      };
      push("cpu", m.cpu_percent);
      push("memory", m.memory_bytes);
      push("rx", m.net_rx_rate);
      push("tx", m.net_tx_rate);
      const limit = Number(m.memory_limit) || 0;
      field("cpu").textContent = (Number(m.cpu_percent) || 0).toFixed(1) + " %";
      field("memory").innerHTML = "";
      field("memory").append(bytes(m.memory_bytes));
      if (limit) {
        const small = document.createElement("small");
        small.textContent = " of " + bytes(limit) + " (" + (Number(m.memory_percent) || 0).toFixed(1) + " %)";
        field("memory").append(small);
      }
      field("net").textContent = "↓ " + bytes(m.net_rx_rate) + "/s  ↑ " + bytes(m.net_tx_rate) + "/s";
      field("net-total").textContent = "· in total " + bytes(m.net_rx_bytes) + " / " + bytes(m.net_tx_bytes);
      field("blk-read").textContent = bytes(m.blk_read_bytes);
      field("blk-write").textContent = bytes(m.blk_write_bytes);
      field("pids").textContent = m.pids === null || m.pids === undefined ? "—" : String(m.pids);
      draw();
    }

    function connect() {
      clearTimeout(timer);
      ended = false;
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const ws = new WebSocket(scheme + location.host + root.dataset.statsSocket);
      socket = ws;
      setState("connecting…");
      ws.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.type === "stats") {
          delay = 1000;
          setState("● live, every second · the charts show the last two minutes", "on");
          add(data);
        } else if (data.type === "end") {
          ended = true;
          setState("not running: " + (data.reason || "stopped") + ". The charts continue when it starts again.", "");
        } else if (data.type === "error") {
          setState("error: " + (data.message || "the stats stream failed"), "off");
        }
      };
      ws.onclose = () => {
        if (socket !== ws) return;
        socket = null;
        if (ended) return;
        setState("disconnected · reconnecting in " + Math.round(delay / 1000) + " s…", "off");
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }

    document.addEventListener("berth:tab", (event) => { if (event.detail === "stats") draw(); });
    window.addEventListener("resize", draw);
    connect();
    return { restart: () => { if (!socket) { delay = 1000; connect(); } } };
  }

  function inspect(root) {
    const result = root.querySelector("[data-inspect-result]");
    let loaded = false;
    async function load() {
      loaded = true;
      result.setAttribute("aria-busy", "true");
      try {
        const response = await fetch(root.dataset.inspectUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
        const data = await response.json().catch(() => null);
        if (!response.ok) throw new Error((data && (data.detail || data.error)) || "HTTP " + response.status);
        const pre = document.createElement("pre");
        pre.className = "config inspect";
        pre.textContent = JSON.stringify(data, null, 2);
        result.replaceChildren(pre);
      } catch (err) {
        const p = document.createElement("p");
        p.className = "msg error";
        p.setAttribute("role", "alert");
        p.textContent = "Could not load the inspect document: " + err.message;
        result.replaceChildren(p);
      } finally {
        result.removeAttribute("aria-busy");
      }
    }
    root.querySelector("[data-inspect-reload]").addEventListener("click", load);
    document.addEventListener("berth:tab", (event) => { if (event.detail === "inspect" && !loaded) load(); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const head = document.querySelector(".container-head[data-container]");
    const statsRoots = Array.from(document.querySelectorAll("[data-stats-socket]")).map(stats);
    document.querySelectorAll("[data-inspect-url]").forEach(inspect);
    document.querySelectorAll("[data-tabs]").forEach(tabs);
    document.addEventListener("berth:container-event", (event) => {
      if (!head || event.detail.id !== head.dataset.container || event.detail.action !== "start") return;
      statsRoots.forEach((s) => s.restart());
      document.querySelectorAll(".logviewer").forEach((el) => {
        if (el.berthLogViewer && el.berthLogViewer.ended()) el.berthLogViewer.reconnect();
      });
    });
  });
})();
