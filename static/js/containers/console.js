// Berth: [data-exec-socket] on the container page: the Console tab, a terminal
// (xterm.js, vendored in static/vendor/) on the exec websocket.
//
// Protocol (environments/consumers/exec.py): ?cmd=…&cmd=…&tty=1&cols=&rows=; the server
// sends {"type":"started"}, binary frames [stream byte][data], {"type":"exit","code"}
// and {"type":"error","message"} before a refusal or an abnormal close; the client sends
// binary input and {"type":"resize","cols","rows"}. A session never reconnects: a new
// one starts with Start.

import { Terminal } from "../../vendor/xterm/xterm.mjs";
import { FitAddon } from "../../vendor/xterm-addon-fit/addon-fit.mjs";
import { openStreamSocket } from "../lib/socket.js";

// What a close code means, when the server said nothing more.
export const CLOSE_REASONS = {
  1006: "the connection to Berth was lost",
  1009: "a message was too large",
  4400: "bad parameters",
  4401: "you are signed out: sign in again",
  4403: "you may not run commands here",
  4404: "the container is gone",
  4408: "closed after a long time without input or output",
  4409: "the container is not running",
  4429: "too many open sessions: close one first",
  4503: "the Docker engine could not be reached",
};

// "sh -c 'echo a b'" → ["sh", "-c", "echo a b"]: words, with '…' and "…" quoting.
export function splitCommand(line) {
  const words = [];
  let word = null;
  let quote = "";
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = "";
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word = word || "";
    } else if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word || "") + ch;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

export function consolePanel(root) {
  const form = root.querySelector("[data-console-form]");
  const input = form.elements.command;
  const startButton = root.querySelector("[data-console-start]");
  const stopButton = root.querySelector("[data-console-stop]");
  const state = root.querySelector("[data-console-state]");
  const host = root.querySelector("[data-console-terminal]");
  let term = null;
  let fit = null;
  let ws = null;
  let lastError = "";
  let exitCode = null;
  const encoder = new TextEncoder();

  function say(text, kind) {
    state.textContent = text;
    state.className = "console-state small-text" + (kind ? " " + kind : "");
  }

  function send(data) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
  }

  function ensureTerminal() {
    if (term) return;
    term = new Terminal({
      cursorBlink: true,
      convertEol: false,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 13,
      scrollback: 5000,
      theme: { background: "#111820", foreground: "#e6edf3" },
    });
    fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host);
    term.onData((data) => send(encoder.encode(data)));
    term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
    term.onResize(({ cols, rows }) => send(JSON.stringify({ type: "resize", cols, rows })));
    // Ctrl+C is the terminal's interrupt: copying and pasting take Shift as well.
    term.attachCustomKeyEventHandler((event) => {
      if (event.type !== "keydown" || !event.ctrlKey || !event.shiftKey) return true;
      if (event.code === "KeyC") { copy(); return false; }
      if (event.code === "KeyV") { paste(); return false; }
      return true;
    });
    new ResizeObserver(() => { if (!host.closest("[hidden]")) fit.fit(); }).observe(host);
  }

  async function copy() {
    const text = term && term.getSelection();
    if (!text) { say("Select text in the terminal first, then copy.", ""); return; }
    try { await navigator.clipboard.writeText(text); } catch (err) { say("The browser refused the clipboard: " + err.message, "warn"); }
    if (term) term.focus();
  }

  async function paste() {
    try {
      const text = await navigator.clipboard.readText();
      if (term && text) term.paste(text);
    } catch (err) {
      say("The browser refused the clipboard: use Ctrl+V in the terminal. (" + err.message + ")", "warn");
    }
    if (term) term.focus();
  }

  function running(on) {
    startButton.disabled = on;
    stopButton.disabled = !on;
    input.disabled = on;
  }

  function start() {
    const command = splitCommand(input.value.trim() || "/bin/sh");
    ensureTerminal();
    fit.fit();
    term.reset();
    lastError = "";
    exitCode = null;
    const query = new URLSearchParams();
    command.forEach((word) => query.append("cmd", word));
    query.set("tty", "1");
    query.set("cols", String(term.cols));
    query.set("rows", String(term.rows));
    say("Connecting…", "");
    running(true);
    const socket = openStreamSocket(root.dataset.execSocket + "?" + query.toString());
    ws = socket;
    socket.onmessage = (event) => {
      if (ws !== socket) return;
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data, 1));  // first byte: the stream
        return;
      }
      let message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      if (message.type === "started") {
        say("Connected: session " + message.session + ", " + message.command.join(" "), "on");
        term.focus();
      } else if (message.type === "exit") {
        exitCode = message.code;
      } else if (message.type === "error") {
        lastError = message.message;
      }
    };
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = null;
      running(false);
      if (exitCode !== null) {
        say(exitCode === -1 ? "Ended (exit code unknown)." : "Exited with code " + exitCode + ".", exitCode === 0 ? "on" : "warn");
        if (term) term.write("\r\n\x1b[2m[exited with code " + exitCode + "]\x1b[0m\r\n");
      } else if (event.code === 1000 || event.code === 1005) {
        say("Disconnected.", "");
      } else {
        const why = lastError || CLOSE_REASONS[event.code] || "the connection closed (" + event.code + ")";
        say("Refused or ended: " + why, "error");
      }
    };
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); start(); });
  stopButton.addEventListener("click", () => { if (ws) ws.close(1000); });
  root.querySelector("[data-console-copy]").addEventListener("click", copy);
  root.querySelector("[data-console-paste]").addEventListener("click", paste);
  document.addEventListener("berth:tab", (event) => {
    if (event.detail === "console" && term) requestAnimationFrame(() => fit.fit());
  });
}
