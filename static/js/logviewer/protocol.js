// Berth log viewer: the log socket's protocol (environments/consumers/container_logs.py
// and service_logs.py), over lib/socket.js.
// - Server → viewer: lines (acknowledged on receipt: the server's flow control), live
//   (the backlog is over), skipped (this viewer fell behind), replicas / replica (a
//   service's replicas, joining and ending), end (the log is over: no reconnect), error
//   (the server closes next; the viewer reconnects).
// - Each connect resumes after the last timestamp held per (replica, stream), and lines
//   at or before it are dropped, so a reconnect never shows a line twice.
// The stream turns messages into line objects and state texts; it knows nothing of the
// page. on: { lines(batch), marker(kind, text, extra), replicas(names), live(wholeLog),
// state(text, kind) }.

import { openSocket, reconnectingIn } from "../lib/socket.js";
import { count } from "../lib/format.js";
import { plainOf } from "./ansi.js";

const DEFAULT_TAIL = 500; // the server's, when no tail is asked for

export class LogStream {
  // options: { path, service (bool), tail, firstLine() → the oldest line held, on }.
  constructor(options) {
    this.path = options.path;
    this.service = options.service;
    this.tail = options.tail || "";
    this.firstLine = options.firstLine;
    this.on = options.on;
    this.lastTs = new Map(); // "<replica>\0<stream>" → the newest ts received
    this.floor = new Map(); // lastTs when this connection began: lines up to it are held
    this.ended = false;
    this.lastError = "";
    this.firstConnection = true;
    this.backlogLines = 0;
    this.socket = null;
  }

  start() {
    const stream = this;
    this.socket = openSocket({
      url: () => this.connecting(),
      onMessage(message) { stream.handle(message, this); },
      onClose() { stream.firstConnection = false; },
      onRetry(seconds) {
        const why = stream.lastError ? "error: " + stream.lastError + " · " : "disconnected · ";
        stream.on.state(why + reconnectingIn(seconds), "off");
      },
      onRefused(text) { stream.on.state("stopped: " + text, "off"); },
    });
    return this;
  }

  // Called by the socket at each connect: the URL with the resume cursors.
  connecting() {
    this.floor = new Map(this.lastTs);
    this.on.state(this.lastTs.size ? "resuming…" : "connecting…", "");
    const params = new URLSearchParams();
    if (this.lastTs.size) {
      params.set("tail", "all");
      if (!this.service) {
        // A stream with no line yet resumes from the oldest line held, not from the start.
        const first = this.firstLine();
        for (const stream of ["stdout", "stderr"]) {
          const ts = this.lastTs.get("\u0000" + stream) || (first && first.ts);
          if (ts) params.set("since_" + stream, ts);
        }
      } else {
        params.set("since", Array.from(this.lastTs.values()).sort()[0]);
      }
    } else if (this.tail) {
      params.set("tail", this.tail);
    }
    const query = params.toString();
    return this.path + (query ? "?" + query : "");
  }

  handle(message, socket) {
    const on = this.on;
    if (message.type === "lines") {
      socket.send({ type: "ack", seq: message.seq });
      this.receive(message.lines || [], message.replica);
    } else if (message.type === "live") {
      this.lastError = "";
      on.state("● live", "on");
      // A first backlog shorter than the tail asked for is the whole log.
      on.live(this.firstConnection && this.backlogLines < (Number(this.tail) || DEFAULT_TAIL));
      this.firstConnection = false;
    } else if (message.type === "skipped") {
      on.marker("skipped", skippedText(message), { since: message.since || "", until: message.until || "" });
    } else if (message.type === "replicas") {
      on.replicas(message.replicas || []);
    } else if (message.type === "replica" && message.replica) {
      on.replicas([message.replica]);
      const what = message.state === "ended" ? "ended" + (message.reason ? ": " + message.reason : "") : "joined";
      on.marker("replica", "— " + message.replica + " " + what + " —");
    } else if (message.type === "end") {
      const reason = message.reason || "the log ended";
      this.ended = true;
      this.firstConnection = false;
      socket.stop();
      on.state("ended: " + reason, "ended");
      on.marker("end", "— " + reason + " —");
    } else if (message.type === "error") {
      this.lastError = message.message || "the log stream failed";
    }
  }

  receive(raws, messageReplica) {
    const batch = [];
    for (const raw of raws) {
      const replica = raw.replica || messageReplica || "";
      const key = replica + "\u0000" + raw.stream;
      const ts = raw.ts || "";
      const held = this.floor.get(key);
      if (held !== undefined && ts <= held) continue; // already shown before a reconnect
      if (ts > (this.lastTs.get(key) || "")) this.lastTs.set(key, ts);
      const text = typeof raw.text === "string" ? raw.text : "";
      batch.push({ ts, stream: raw.stream, text, replica, plain: plainOf(text) });
    }
    if (this.firstConnection) this.backlogLines += batch.length;
    this.on.lines(batch);
  }

  // Open (or connecting) sockets are left alone; an ended log follows again.
  reconnect() {
    if (this.socket.isActive) return;
    this.ended = false;
    this.socket.reconnect();
  }

  // Closes the socket as a server restart would: the viewer reconnects and resumes.
  disconnect() { this.socket.drop(); }

  get isEnded() { return this.ended && !this.socket.isActive; }
}

function skippedText(message) {
  if (message.message) return "⚠ " + message.message;
  if (message.count === null || message.count === undefined) {
    return "⚠ Lines between " + message.since + " and " + message.until +
      " may be missing: the server's backlog did not reach back that far.";
  }
  return "⚠ " + count(message.count) + " lines skipped here: this viewer fell behind.";
}
