// The overview page (/): cap gauge, bandwidth chart, top processes, capture
// health and the live connection table, all fed by one WebSocket.
"use strict";

(function () {
  const TM = window.TM;
  const settings = TM.settings;
  const LONG_REFRESH_MS = 60000;
  const TOP_PROCESSES = 8;
  const LEVELS = ["ok", "warning", "critical", "exceeded"];
  const COUNTS = { outbound: "outbound", both: "outbound + inbound", max: "larger direction" };

  // ---- the cap gauge: the billing period, as GET /data and every tick's `traffic` part carry it ----

  // The cap date's day in the billing zone (the days of the daily totals): "27 Dec".
  function capDay(when, zone) {
    const date = new Date(TM.time.seconds(when) * 1000);
    const options = { day: "numeric", month: "short" };
    try {
      return date.toLocaleDateString("en-GB", { ...options, timeZone: zone });
    } catch (err) {
      return date.toLocaleDateString("en-GB", options); // a zone this browser does not know
    }
  }

  const gauge = {
    section: document.getElementById("cap"),
    body: document.querySelector("#cap .gauge-body"),

    render(period) {
      const level = LEVELS.includes(period.level) ? period.level : "ok";
      this.section.dataset.level = level;
      const percent = period.used_percent;
      const meter = this.body.querySelector(".meter");
      meter.setAttribute("aria-valuenow", String(Math.min(100, percent)));
      meter.setAttribute("aria-valuetext", TM.fmt.percent(percent) + " of the cap used (" + level + ")");
      meter.querySelector(".meter-fill").style.width = Math.min(100, percent) + "%";
      for (const name of ["warning", "critical"]) {
        const mark = meter.querySelector(".mark-" + name);
        const at = period.thresholds[name];
        mark.hidden = at > 100;
        mark.style.left = at + "%";
      }
      const explained = period.breakdown_coverage;
      TM.fill(this.body, {
        used_percent: TM.fmt.percent(percent),
        level: level === "ok" ? "within the cap" : level === "exceeded" ? "cap exceeded" : level + " level",
        cap_counts: COUNTS[period.cap_counts] || period.cap_counts,
        counted: TM.fmt.bytes(period.counted),
        cap: TM.fmt.bytes(period.cap_bytes),
        remaining: TM.fmt.bytes(period.remaining),
        days_left: TM.fmt.days(period.days_left),
        projection: this.projection(period),
        end: TM.time.element(period.end),
        directions: "↑ " + TM.fmt.bytes(period.outbound) + " / ↓ " + TM.fmt.bytes(period.inbound),
        offset: period.offset ? TM.fmt.bytes(period.offset) : "none",
        updated: period.updated ? TM.time.element(period.updated) : "not yet",
        explained: explained === null ? "none yet" : TM.fmt.percent(100 * explained),
      });
    },

    // "412 GB at the last 7 days' pace, reaching the cap on 27 Dec", or why there is no figure
    // yet: the server says what the pace rests on (basis_text), the page never guesses it.
    projection(period) {
      const projection = period.projection;
      if (projection.bytes === null) return projection.basis_text;
      const text = TM.fmt.bytes(projection.bytes) + " " + projection.basis_text;
      if (!projection.cap_date) return text;
      const when = TM.el("time", { datetime: projection.cap_date, title: TM.time.absolute(projection.cap_date) });
      when.textContent = capDay(projection.cap_date, period.timezone);
      return TM.el("span", {}, text + ", reaching the cap on ", when);
    },
  };

  // ---- bandwidth chart: the live ring from the WebSocket, or the per-minute history ----

  const rates = {
    chart: TM.RateChart(document.getElementById("rate-chart"), [
      ["Upload", "--up"],
      ["Download", "--down"],
    ]),
    live: [[], [], []],
    range: "live",
    note: document.getElementById("range-note"),
    buttons: [...document.querySelectorAll("#rates [data-range]")],
    longTimer: null,

    init() {
      for (const button of this.buttons) button.addEventListener("click", () => this.select(button.dataset.range));
    },

    async loadLive() {
      const result = await TM.api("GET", "/api/bandwidth-history");
      if (!result.ok) return;
      const points = result.data.history;
      this.live = [points.map((p) => p.timestamp), points.map((p) => p.upload), points.map((p) => p.download)];
      if (this.range === "live") this.chart.setData(this.live);
    },

    // The host's speeds over the window chosen (the chart keeps the speed window's: its ring is the server's).
    showNow(stats) {
      const average = TM.speeds.average;
      document.getElementById("rate-up").textContent = TM.fmt.rate(average ? stats.average_upload_speed : stats.total_upload_speed);
      document.getElementById("rate-down").textContent = TM.fmt.rate(average ? stats.average_download_speed : stats.total_download_speed);
    },

    add(stats, timestamp) {
      this.showNow(stats);
      const [times, up, down] = this.live;
      if (times.length && timestamp <= times[times.length - 1]) return;
      times.push(timestamp);
      up.push(stats.total_upload_speed);
      down.push(stats.total_download_speed);
      const oldest = timestamp - settings.history_length;
      while (times.length && times[0] < oldest) {
        times.shift();
        up.shift();
        down.shift();
      }
      if (this.range === "live") this.chart.setData(this.live);
    },

    select(range) {
      this.range = range;
      for (const button of this.buttons) button.setAttribute("aria-pressed", String(button.dataset.range === range));
      clearInterval(this.longTimer);
      this.note.hidden = true;
      if (range === "live") {
        this.chart.setData(this.live);
        return;
      }
      this.loadMinutes();
      this.longTimer = setInterval(() => this.loadMinutes(), LONG_REFRESH_MS);
    },

    // Per-minute averages kept by the accounting (complete minutes only).
    async loadMinutes() {
      const range = this.range;
      const result = await TM.api("GET", "/api/bandwidth-history?range=" + range);
      if (range !== this.range) return;
      this.note.hidden = result.ok && result.data.count > 0;
      if (!result.ok) {
        this.note.textContent = "Could not load the per-minute history: " + result.error;
        return;
      }
      this.note.textContent = "No complete minute recorded yet.";
      const points = result.data.history;
      this.chart.setData([points.map((p) => p.timestamp), points.map((p) => p.upload), points.map((p) => p.download)]);
    },
  };

  // ---- top processes by speed over the window chosen; list items are kept per pid so focus survives a tick ----

  const top = {
    list: document.querySelector("#top-processes ol"),
    empty: document.querySelector("#top-processes [data-role=empty]"),
    items: new Map(),

    render(processes) {
      const average = TM.speeds.average;
      const up = (p) => (average ? p.average_upload_speed : p.upload_speed);
      const down = (p) => (average ? p.average_download_speed : p.download_speed);
      const both = (p) => up(p) + down(p);
      const busy = processes
        .filter((p) => both(p) > 0)
        .sort((a, b) => both(b) - both(a) || a.pid - b.pid)
        .slice(0, TOP_PROCESSES);
      const fastest = busy.length ? both(busy[0]) : 1;
      const keep = new Set(busy.map((p) => p.pid));
      for (const [pid, li] of this.items) {
        if (!keep.has(pid)) {
          li.remove();
          this.items.delete(pid);
        }
      }
      let cursor = this.list.firstElementChild;
      for (const p of busy) {
        let li = this.items.get(p.pid);
        if (!li) {
          li = TM.el(
            "li",
            {},
            TM.el("a", { href: "/processes/" + p.pid, class: "name" }),
            TM.el("span", { class: "pid" }),
            TM.el("span", { class: "up" }),
            TM.el("span", { class: "down" }),
            TM.el("span", { class: "bar", "aria-hidden": "true" }, TM.el("span"))
          );
          this.items.set(p.pid, li);
        }
        li.querySelector(".name").textContent = p.name;
        li.querySelector(".name").title = p.cmdline;
        li.querySelector(".pid").textContent = "pid " + p.pid;
        li.querySelector(".up").textContent = "↑ " + TM.fmt.rate(up(p));
        li.querySelector(".down").textContent = "↓ " + TM.fmt.rate(down(p));
        li.querySelector(".bar span").style.width = (100 * both(p)) / fastest + "%";
        if (li === cursor) cursor = cursor.nextElementSibling;
        else this.list.insertBefore(li, cursor);
      }
      this.empty.hidden = busy.length > 0;
    },
  };

  // ---- capture health, as measured: nothing rounded up ----

  const health = {
    section: document.getElementById("health"),

    // The accounting's own state (database, counters) is only in /health.
    showAccounting(answer, error) {
      const field = this.section.querySelector('[data-field="accounting"]');
      const accounting = answer && answer.accounting;
      if (!accounting) {
        field.textContent = "unknown (" + (error || "no answer") + ")";
        field.className = "bad";
        return;
      }
      field.className = accounting.problem ? "bad" : "";
      field.textContent = accounting.problem
        ? accounting.problem
        : "counting " + accounting.interfaces.join(", ") + (accounting.last_flush ? ", saved " + TM.time.relative(accounting.last_flush) : "");
    },

    // The state is the server's verdict (`level`: down, or degraded by `problems`:
    // errors, recent kernel drops, coverage clearly short), the same one /health gives.
    render(capture, stats) {
      const coverage = capture.coverage;
      this.section.dataset.state = { ok: "good", degraded: "degraded", down: "bad" }[capture.level];
      const total = capture.bytes_attributed + capture.bytes_unknown;
      TM.fill(this.section, {
        status: capture.running ? "capturing on " + (capture.interfaces.join(", ") || "no interface") : "not capturing",
        coverage: coverage === null ? "— (nothing moved recently)" : TM.fmt.percent(coverage * 100) + " of the kernel's byte count",
        drops: TM.fmt.count(capture.kernel_drops),
        malformed: TM.fmt.count(capture.malformed),
        unknown: TM.fmt.bytes(capture.bytes_unknown) + (total ? " (" + TM.fmt.percent((100 * capture.bytes_unknown) / total) + ")" : ""),
        packets: TM.fmt.count(capture.packets),
        uptime: TM.fmt.duration(stats.uptime),
      });
      const errors = this.section.querySelector("[data-role=errors]");
      errors.replaceChildren(...capture.problems.map((e) => TM.el("li", { text: e })));
      errors.hidden = capture.problems.length === 0;
    },
  };

  // ---- wiring ----

  const table = new TM.ConnectionTable(document.getElementById("connections"));
  let lastStats = null;
  let lastProcesses = null;

  function onMessage(message) {
    const data = message.data;
    if (message.type === "initial") {
      table.setConnections(data.connections, data.connections.length);
      table.render();
      rates.loadLive();
      gauge.render(data.traffic);
    } else if (message.type === "update") {
      if (data.table) {
        table.applyTable(message.seq, data.table);
        table.render();
      }
      if (data.stats) {
        lastStats = data.stats;
        rates.add(data.stats, message.timestamp);
      }
      if (data.traffic) gauge.render(data.traffic);
      if (data.processes) {
        lastProcesses = data.processes;
        top.render(data.processes);
      }
      if (data.capture && lastStats) health.render(data.capture, lastStats);
    } else if (message.type === "alert") {
      TM.showAlert(message.data);
    }
  }

  const socket = new TM.LiveSocket({
    subscription: { type: "subscribe", topics: ["table", "stats", "traffic", "processes", "capture", "alerts"] },
    onMessage,
  });
  table.onDesync = () => socket.resubscribe();

  rates.init();
  // A new choice of window shows at once, from the last tick's figures.
  TM.speeds.onChange(() => {
    if (lastStats) rates.showNow(lastStats);
    if (lastProcesses) top.render(lastProcesses);
  });
  TM.onHealth((answer, error) => health.showAccounting(answer, error));
  socket.start();
  TM.overview = { table, socket, rates, gauge };
})();
