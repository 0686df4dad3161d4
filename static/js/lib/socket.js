// Berth: the one reconnecting websocket behind every live page (status, events, stats,
// deployment progress, logs), and openStreamSocket for the exec console, which never
// reconnects. No other file opens a WebSocket.
//
//   const socket = openSocket({
//     url: "/ws/..." or () => "/ws/...?cursor=…",   // called at every connect
//     onOpen(), onMessage(data), onClose(closeEvent), onRetry(seconds, closeEvent),
//   });
//   socket.send({...})     JSON, if open
//   socket.stop()          for good: the log ended, the deployment finished
//   socket.reconnect()     now, with a fresh backoff, unless already (re)connecting
//   socket.drop()          close as a server restart would: it reconnects
//   onRefused(text, closeEvent): the server refused the socket (4400 bad parameters,
//     4401 signed out, 4403 not allowed, 4404 gone or hidden); asking again cannot
//     help, so the socket stops and the page shows the text instead of a countdown.
//
// One backoff policy for every page: the n-th retry in a row waits 1 s · 2^n, at most
// 30 s, shortened by up to 20 % at random. A connection that stayed open STABLE_MS
// resets the count, so a server restart costs a second while a server that accepts and
// then hangs up at once is not hammered.

export const FIRST_DELAY_MS = 1000;
export const MAX_DELAY_MS = 30000;
export const STABLE_MS = 5000;
// Only ever shortens: the first retry still reads "in 1 s", and pages cut off by the
// same server restart do not all come back in the same instant.
const JITTER = 0.2;

// Close codes after which a retry would be refused the same way (environments/consumers/base.py).
export const REFUSALS = {
  4400: "the server refused the request as malformed: reload the page",
  4401: "you are signed out: sign in again",
  4403: "you may not follow this here",
  4404: "this is gone, or not yours to see: reload the page",
};

export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling * (1 - JITTER * random()));
}

export function socketUrl(path) {
  if (/^wss?:\/\//.test(path)) return path;
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

// The words every page uses for the countdown.
export function reconnectingIn(seconds) {
  return "reconnecting in " + seconds + " s…";
}

export class LiveSocket {
  constructor(options) {
    this.options = options;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.openedAt = 0;
    this.retryAt = 0;
    this.timer = 0;
    this.ticker = 0;
  }

  get isOpen() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }
  // Open or still connecting: reconnect() leaves such a socket alone.
  get isActive() { return this.ws !== null; }
  get isWaiting() { return this.timer !== 0; }
  get secondsLeft() { return this.timer ? Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000)) : 0; }

  connect() {
    this.clearTimers();
    this.stopped = false;
    if (this.ws) { const old = this.ws; this.ws = null; old.close(1000); }
    const { url } = this.options;
    let ws;
    try {
      ws = new WebSocket(socketUrl(typeof url === "function" ? url() : url));
    } catch (err) {
      this.closed(null, { code: 0, reason: String(err && err.message) });
      return this;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.openedAt = Date.now();
      this.call("onOpen");
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      let data;
      try { data = JSON.parse(event.data); } catch (err) { return; }
      this.call("onMessage", data);
    };
    ws.onclose = (event) => { if (this.ws === ws) this.closed(ws, event); };
    return this;
  }

  closed(ws, event) {
    this.ws = null;
    if (this.openedAt && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    this.openedAt = 0;
    this.call("onClose", event);
    if (!this.stopped && !this.ws && event && REFUSALS[event.code]) {
      this.stopped = true;
      this.call("onRefused", REFUSALS[event.code], event);
      return;
    }
    // onClose may have stopped, or reconnected by itself.
    if (!this.stopped && !this.ws && !this.timer) this.schedule(event);
  }

  schedule(event) {
    const delay = backoffDelay(this.attempt++);
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(() => { this.timer = 0; this.connect(); }, delay);
    const tick = () => this.call("onRetry", this.secondsLeft, event);
    tick();
    this.ticker = setInterval(tick, 1000);
  }

  clearTimers() {
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    this.timer = 0;
    this.ticker = 0;
  }

  call(name, ...args) {
    const fn = this.options[name];
    if (fn) fn.apply(this, args);
  }

  send(data) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(data));
    return true;
  }

  stop() {
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.openedAt = 0;
    if (ws) ws.close(1000);
  }

  reconnect() {
    if (this.ws) return this;
    this.attempt = 0;
    return this.connect();
  }

  drop() {
    if (this.ws) this.ws.close();
  }
}

export function openSocket(options) {
  return new LiveSocket(options).connect();
}

// A plain websocket for a stream that cannot resume (the exec console): binary frames as
// ArrayBuffers, no reconnection. Here so that every socket still opens in this file.
export function openStreamSocket(path) {
  const ws = new WebSocket(socketUrl(path));
  ws.binaryType = "arraybuffer";
  return ws;
}
