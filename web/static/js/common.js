// Shared by every dashboard page: the server's settings for the page, human
// units and times, calls to the JSON API, the alert banner, and the live
// WebSocket with its reconnect back-off and its "authentication failed" state.
//
// Every URL is built from window.location.origin: a page opened as
// http://user:pass@host/ would otherwise hand its credentials to fetch() and
// WebSocket(), which refuse URLs that carry them.
"use strict";

(function () {
  const TM = (window.TM = window.TM || {});
  TM.settings = JSON.parse(document.body.dataset.settings || "{}");

  TM.url = function (path) {
    return new URL(path, window.location.origin).href;
  };

  // ---- units: decimal, as providers bill (1 kB = 1000 B, 1 GB = 10^9 B) ----

  const RATE_UNITS = ["B/s", "kB/s", "MB/s", "GB/s", "TB/s"];
  const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

  function scaled(value, units) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    let v = Math.abs(value);
    let i = 0;
    while (v >= 999.5 && i < units.length - 1) {
      v /= 1000;
      i += 1;
    }
    const digits = i === 0 ? 0 : v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
    return (value < 0 ? "−" : "") + v.toFixed(digits) + " " + units[i];
  }

  const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");

  TM.fmt = {
    rate: (bps) => scaled(bps, RATE_UNITS),
    bytes: (n) => scaled(n, BYTE_UNITS),
    gb: (n) => (n === null || n === undefined ? "—" : (n / 1e9).toLocaleString("en", { maximumFractionDigits: 2 }) + " GB"),
    count: (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en")),
    percent: (p, digits = 1) => (p === null || p === undefined ? "—" : p.toFixed(digits) + " %"),
    duration(seconds) {
      if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
      const s = Math.max(0, Math.floor(seconds));
      if (s < 60) return s + " s";
      if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
      if (s < 86400) return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
      return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
    },
    days: (d) => (d === null || d === undefined ? "—" : plural(Math.round(d * 10) / 10, "day")),
  };

  // ---- which window the process and host speeds are shown over ----

  // "speed": SPEED_WINDOW, as the connections' speeds; "average": AVERAGE_WINDOW, steady for
  // transfers that move in bursts seconds apart. Chosen with the page's "Speeds" buttons
  // (_speeds.html), remembered for every page of this site; every [data-role=speeds-window]
  // says which one is shown, in the words the server gave (settings.*_window_text).
  const SPEEDS_KEY = "trafficmon.speeds";
  const speedsListeners = [];

  function storedSpeeds() {
    try {
      return window.localStorage.getItem(SPEEDS_KEY) === "average" ? "average" : "speed";
    } catch (err) {
      return "speed"; // storage refused (a privacy setting): the default, not remembered
    }
  }

  TM.speeds = {
    mode: storedSpeeds(),
    get average() {
      return this.mode === "average";
    },
    text() {
      return TM.settings[this.mode + "_window_text"];
    },
    // Calls `listener()` after every change of the window shown.
    onChange(listener) {
      speedsListeners.push(listener);
    },
    select(mode) {
      this.mode = mode === "average" ? "average" : "speed";
      try {
        window.localStorage.setItem(SPEEDS_KEY, this.mode);
      } catch (err) {
        // not remembered; the page still shows the choice
      }
      this.show();
      speedsListeners.forEach((listener) => listener());
    },
    show() {
      for (const button of document.querySelectorAll("[data-speeds]")) {
        button.setAttribute("aria-pressed", String(button.dataset.speeds === this.mode));
      }
      for (const label of document.querySelectorAll('[data-role="speeds-window"]')) label.textContent = this.text();
    },
  };

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("[data-speeds]")) {
      button.addEventListener("click", () => TM.speeds.select(button.dataset.speeds));
    }
    TM.speeds.show();
  });

  // ---- times: relative in the text, absolute in the tooltip ----

  const relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  const STEPS = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [30, "day"],
    [12, "month"],
    [Infinity, "year"],
  ];

  TM.time = {
    // `when`: Unix seconds, or an ISO 8601 string as the accounting endpoints send.
    seconds: (when) => (typeof when === "number" ? when : Date.parse(when) / 1000),
    relative(when) {
      let delta = TM.time.seconds(when) - Date.now() / 1000;
      for (const [size, unit] of STEPS) {
        if (Math.abs(delta) < size) return relativeFormat.format(Math.round(delta), unit);
        delta /= size;
      }
      return "";
    },
    absolute(when) {
      return new Date(TM.time.seconds(when) * 1000).toLocaleString(undefined, {
        dateStyle: "medium",
        timeStyle: "short",
      });
    },
    // A calendar date the server named ("2026-03-29", in the period's zone) as words, in no
    // zone of the browser's: the same day whichever zone the browser is in.
    date(day, options) {
      return new Date(day + "T00:00:00Z").toLocaleDateString(undefined, { ...options, timeZone: "UTC" });
    },
    element(when) {
      const el = document.createElement("time");
      el.dateTime = new Date(TM.time.seconds(when) * 1000).toISOString();
      el.title = TM.time.absolute(when);
      el.textContent = TM.time.relative(when);
      return el;
    },
  };

  // ---- DOM ----

  TM.el = function (tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else el.setAttribute(key, value);
    }
    el.append(...children);
    return el;
  };

  // Fill every [data-field] inside `root` from `values` (already formatted text or nodes).
  TM.fill = function (root, values) {
    for (const [field, value] of Object.entries(values)) {
      const target = root.querySelector('[data-field="' + field + '"]');
      if (target) target.replaceChildren(value);
    }
  };

  // ---- the JSON API ----

  // Resolves to {ok, status, data, error}; never throws, so a page can always say what happened.
  TM.api = async function (method, path, body) {
    const init = { method, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(TM.url(path), init);
    } catch (err) {
      return { ok: false, status: 0, data: null, error: "the server cannot be reached" };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (response.ok) return { ok: true, status: response.status, data, error: null };
    let error = (data && data.error) || response.statusText || "HTTP " + response.status;
    if (response.status === 401) error = "authentication failed: reload the page and sign in again";
    return { ok: false, status: response.status, data, error };
  };

  // ---- the alert banner (threshold crossings pushed over the WebSocket) ----

  TM.showAlert = function (alert) {
    const banner = document.getElementById("alert-banner");
    const level = ["warning", "critical", "exceeded"].includes(alert.level) ? alert.level : "warning";
    let text = alert.message;
    if (!text) {
      text = "Traffic cap " + level;
      if (typeof alert.used_percent === "number") text += ": " + TM.fmt.percent(alert.used_percent) + " used";
    }
    banner.dataset.level = level;
    banner.querySelector(".banner-text").textContent = text;
    banner.hidden = false;
  };

  // ---- the state banner: what /health says is wrong with the accounting, on every page ----

  const HEALTH_REFRESH_MS = 10000;
  const healthListeners = [];

  // What the state banner says for a /health answer (null: nothing), as web.pages renders it.
  TM.stateBanner = function (health) {
    const accounting = health.accounting;
    if (health.status === "unhealthy") return { level: "critical", text: "Capture is down: " + health.reason };
    if (!accounting.problem) return null;
    if (!accounting.saving) return { level: "critical", text: "Changes cannot be saved: " + accounting.problem };
    return { level: "warning", text: accounting.problem };
  };

  // Calls `listener(health)` with every /health answer (`null` when there was none).
  TM.onHealth = function (listener) {
    healthListeners.push(listener);
  };

  // A change made while the state cannot be written is refused: the person
  // must know before trying, on whichever page they are, not only on the
  // overview's health card.
  async function refreshHealth() {
    const result = await TM.api("GET", "/health");
    const health = result.data && result.data.accounting ? result.data : null;
    const banner = document.getElementById("state-banner");
    const shown = health && TM.stateBanner(health);
    banner.hidden = !shown;
    if (shown) {
      banner.dataset.level = shown.level;
      banner.querySelector(".banner-text").textContent = shown.text;
    }
    healthListeners.forEach((listener) => listener(health, result.error));
  }

  document.addEventListener("DOMContentLoaded", () => {
    refreshHealth();
    setInterval(refreshHealth, HEALTH_REFRESH_MS);
  });

  document.addEventListener("DOMContentLoaded", () => {
    const banner = document.getElementById("alert-banner");
    banner.querySelector("button").addEventListener("click", () => {
      banner.hidden = true;
    });
  });

  // ---- the live WebSocket ----

  const BACKOFF_FIRST = 0.5;
  const BACKOFF_MAX = 15;

  // Keeps one WebSocket open to /ws: subscribes on every (re)connect, shows the
  // connection state in #live-status, reconnects with jittered exponential
  // back-off, and tells an authentication failure apart from an outage by
  // asking the API why the handshake failed.
  class LiveSocket {
    constructor({ subscription, onMessage }) {
      this.subscription = subscription;
      this.onMessage = onMessage;
      this.ws = null;
      this.attempts = 0;
      this.lastMessage = 0;
      this.retryAt = 0;
      this.retryTimer = null;
      this.reason = "";
      this.status = document.getElementById("live-status");
      this.status.hidden = false;
      this.status.querySelector("button").addEventListener("click", () => this.retryNow());
      setInterval(() => this.tickStatus(), 1000);
    }

    start() {
      this.connect();
    }

    connect() {
      this.retryTimer = null;
      const url = new URL("/ws", window.location.origin);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      this.setState("connecting", "connecting…");
      const ws = new WebSocket(url.href);
      this.ws = ws;
      let opened = false;
      ws.addEventListener("open", () => {
        opened = true;
        this.send(this.subscription);
      });
      ws.addEventListener("message", (event) => {
        this.lastMessage = Date.now();
        const message = JSON.parse(event.data);
        if (message.type === "initial") {
          this.attempts = 0;
          this.setState("live", "live");
        }
        this.onMessage(message);
      });
      ws.addEventListener("close", (event) => {
        if (this.ws !== ws) return;
        this.ws = null;
        this.closed(opened, event);
      });
    }

    send(message) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
    }

    // Re-send the subscription (a table that lost sync gets a keyframe next tick).
    resubscribe() {
      this.send(this.subscription);
    }

    async closed(opened, event) {
      let refused = null; // 429: this address made too many wrong logins; the server says how long to wait
      if (!opened) {
        const probe = await TM.api("GET", "/api/stats");
        if (probe.status === 401) {
          this.setState("auth-failed", "authentication failed — reload the page to sign in again");
          return;
        }
        if (probe.status === 429) refused = probe.error;
      }
      const delay = Math.min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** this.attempts) * (0.75 + Math.random() * 0.5);
      this.attempts += 1;
      this.retryAt = Date.now() + delay * 1000;
      this.reason = refused ? " (" + refused + ")" : event.reason ? " (" + event.reason + ")" : "";
      this.retryTimer = setTimeout(() => this.connect(), delay * 1000);
      this.tickStatus();
    }

    retryNow() {
      if (this.retryTimer !== null) {
        clearTimeout(this.retryTimer);
        this.connect();
      }
    }

    tickStatus() {
      if (this.retryTimer !== null) {
        const left = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
        this.setState("reconnecting", "disconnected" + this.reason + " — reconnecting in " + left + " s");
        return;
      }
      const state = this.status.dataset.state;
      if (state !== "live" && state !== "stalled") return;
      const quiet = (Date.now() - this.lastMessage) / 1000;
      const limit = Math.max(5, 5 * TM.settings.update_interval);
      if (quiet > limit) this.setState("stalled", "connected, but no update for " + Math.round(quiet) + " s");
      else this.setState("live", "live");
    }

    setState(state, text) {
      this.status.dataset.state = state;
      this.status.querySelector(".status-text").textContent = text;
      this.status.querySelector("button").hidden = state !== "reconnecting";
    }
  }

  TM.LiveSocket = LiveSocket;
})();
