// Berth: [data-stats-socket] on the container page: CPU, memory and network figures and
// sparklines from the stats socket, about one sample a second. The socket stops when the
// container is not running; restart() follows it again once it starts.

import { bytes } from "../lib/format.js";
import { openSocket, reconnectingIn } from "../lib/socket.js";
import { SAMPLES, drawSpark } from "./spark.js";

const COLOURS = { cpu: "#2f80ed", memory: "#8e44ad", rx: "#1e9e5a", tx: "#2f80ed" };

export function stats(root) {
  const state = root.querySelector("[data-stats-state]");
  const field = (name) => root.querySelector('[data-stat="' + name + '"]');
  const spark = (name) => root.querySelector('[data-spark="' + name + '"]');
  const samples = { cpu: [], memory: [], rx: [], tx: [] };

  function setState(text, kind) {
    state.textContent = text;
    state.className = "stat-state live small-text " + (kind || "");
  }

  function draw() {
    drawSpark(spark("cpu"), [{ values: samples.cpu, colour: COLOURS.cpu }], 5, (v) => v.toFixed(v < 10 ? 1 : 0) + " %");
    drawSpark(spark("memory"), [{ values: samples.memory, colour: COLOURS.memory }], 1024 * 1024, (v) => bytes(v));
    drawSpark(spark("net"), [{ values: samples.rx, colour: COLOURS.rx }, { values: samples.tx, colour: COLOURS.tx }], 1024, (v) => bytes(v) + "/s");
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
    field("memory").replaceChildren(bytes(m.memory_bytes));
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

  setState("connecting…");
  const socket = openSocket({
    url: root.dataset.statsSocket,
    onMessage(data) {
      if (data.type === "stats") {
        setState("● live, every second · the charts show the last two minutes", "on");
        add(data);
      } else if (data.type === "end") {
        socket.stop(); // until the container starts again
        setState("not running: " + (data.reason || "stopped") + ". The charts continue when it starts again.", "");
      } else if (data.type === "error") {
        setState("error: " + (data.message || "the stats stream failed"), "off");
      }
    },
    onRetry(seconds) { setState("disconnected · " + reconnectingIn(seconds), "off"); },
    onRefused(text) { setState("stopped: " + text, "off"); },
  });

  document.addEventListener("berth:tab", (event) => { if (event.detail === "stats") draw(); });
  window.addEventListener("resize", draw);
  return {
    restart() {
      if (socket.isActive) return;
      setState("connecting…");
      socket.reconnect();
    },
  };
}
