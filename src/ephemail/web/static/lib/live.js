// Live events of one mailbox over the WebSocket `/api/v1/events` (docs/api.md, Live events).
//
// Reconnects with exponential backoff and jitter, and resumes with `after=<last event id>` so
// nothing that happened while the connection was down is missed. A server that sends nothing
// (not even its heartbeat) for a while is treated as gone.

const SILENCE_LIMIT_MS = 75_000;
const MAX_BACKOFF_MS = 30_000;
const CLOSE_DROPPED = 4008; // the server dropped a slow client: resume at once

export class LiveFeed {
  /**
   * @param {string} mailbox the normalised address
   * @param {{onEvent: (event: object) => void, onStatus: (status: string) => void,
   *          onOpen: (info: {resumed: boolean}) => void}} handlers
   */
  constructor(mailbox, handlers) {
    this.mailbox = mailbox;
    this.handlers = handlers;
    this.lastEventId = null;
    this.socket = null;
    this.failures = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.silenceTimer = null;
    this.status = "idle";
    this.onOnline = () => this.reconnectNow();
    this.onVisible = () => {
      if (document.visibilityState === "visible" && !this.socket) this.reconnectNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.onclose = null;
      socket.close(1000, "leaving");
    }
    this.setStatus("idle");
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.handlers.onStatus(status);
  }

  url() {
    const params = new URLSearchParams();
    params.append("mailbox", this.mailbox);
    if (this.lastEventId != null) params.set("after", String(this.lastEventId));
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}/api/v1/events?${params}`;
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    this.setStatus(this.failures >= 2 ? "offline" : "connecting");
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    const resumed = this.lastEventId != null;
    socket.onopen = () => {
      this.failures = 0;
      this.setStatus("live");
      this.armSilenceTimer();
      this.handlers.onOpen({ resumed });
    };
    socket.onmessage = (message) => {
      this.armSilenceTimer();
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!event || typeof event !== "object" || event.type === "heartbeat") return;
      if (event.id != null) this.lastEventId = event.id;
      this.handlers.onEvent(event);
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearTimeout(this.silenceTimer);
      if (this.stopped) return;
      if (close.code === CLOSE_DROPPED) {
        this.retryTimer = setTimeout(() => this.connect(), 100 + Math.random() * 400);
        return;
      }
      this.failures += 1;
      this.scheduleRetry();
    };
  }

  scheduleRetry() {
    if (this.stopped) return;
    this.setStatus(this.failures >= 2 ? "offline" : "connecting");
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.failures, 6));
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.socket) return;
    this.failures = Math.min(this.failures, 1);
    this.connect();
  }

  armSilenceTimer() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (this.socket) this.socket.close(4000, "silent");
    }, SILENCE_LIMIT_MS);
  }
}
