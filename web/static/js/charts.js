// Charts on the vendored uPlot (web/static/vendor/uplot): a rate chart
// (upload/download over time) and a daily bar chart with a budget line.
// Colours come from the page's CSS custom properties, so the charts follow the
// light/dark theme; they are rebuilt when the system theme changes and resized
// with their container.
"use strict";

(function () {
  const TM = window.TM;
  const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  const MINUTE = 60;
  const HOUR = 3600;
  const DAY = 86400;
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
    HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY];
  const DAY_STEPS = [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];

  // Clock times at whole-second steps (with the weekday once the chart spans days).
  function clockLabels(u, splits, axis, space, step) {
    const days = u.scales.x.max - u.scales.x.min > DAY;
    const format = { hour: "2-digit", minute: "2-digit" };
    if (step < MINUTE) format.second = "2-digit";
    if (days) format.weekday = "short";
    return splits.map((t) => new Date(t * 1000).toLocaleString(undefined, format));
  }

  function dateLabels(u, splits) {
    return splits.map((t) => new Date(t * 1000).toLocaleDateString(undefined, { month: "short", day: "numeric" }));
  }

  function axes(xLabels, xSteps, yValues) {
    const axis = { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid") } };
    return [
      { ...axis, space: 100, incrs: xSteps, values: xLabels },
      { ...axis, size: 78, values: (u, values) => values.map(yValues) },
    ];
  }

  // Builds (and rebuilds) one uPlot in `el` from `options()`, keeping its data.
  class Chart {
    constructor(el, height, options) {
      this.el = el;
      this.height = height;
      this.options = options;
      this.data = null;
      this.plot = null;
      new ResizeObserver(() => {
        if (this.plot && this.el.clientWidth) this.plot.setSize({ width: this.el.clientWidth, height: this.height });
      }).observe(el);
      darkQuery.addEventListener("change", () => this.build());
    }

    build() {
      if (this.plot) this.plot.destroy();
      this.plot = null;
      if (this.data === null) return;
      const opts = { width: this.el.clientWidth || 600, height: this.height, ...this.options() };
      this.plot = new uPlot(opts, this.data, this.el);
    }

    setData(data) {
      const shape = this.data === null || this.data.length !== data.length;
      this.data = data;
      if (this.plot === null || shape) this.build();
      else this.plot.setData(data);
    }
  }

  // `series`: [[label, css colour variable], ...] drawn as lines with a light fill.
  TM.RateChart = function (el, series) {
    return new Chart(el, 220, () => ({
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1000, max * 1.1)] } },
      series: [
        { value: (u, v) => (v === null ? "—" : TM.time.absolute(v)) },
        ...series.map(([label, colour]) => ({
          label,
          stroke: css(colour),
          fill: css(colour) + "22",
          width: 1.5,
          points: { show: false },
          value: (u, v) => TM.fmt.rate(v),
        })),
      ],
      axes: axes(clockLabels, TIME_STEPS, TM.fmt.rate),
      cursor: { drag: { x: false, y: false } },
    }));
  };

  // Outbound and inbound bars per day, and the cap's daily budget as a dashed line.
  TM.DailyChart = function (el) {
    const bars = (align) => uPlot.paths.bars({ size: [0.4, 40], align });
    return new Chart(el, 300, () => ({
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1e6, max * 1.1)] } },
      series: [
        { value: (u, v) => (v === null ? "—" : new Date(v * 1000).toLocaleDateString()) },
        { label: "Outbound", fill: css("--up"), stroke: css("--up"), paths: bars(-1), points: { show: false }, value: (u, v) => TM.fmt.bytes(v) },
        { label: "Inbound", fill: css("--down"), stroke: css("--down"), paths: bars(1), points: { show: false }, value: (u, v) => TM.fmt.bytes(v) },
        { label: "Daily budget", stroke: css("--warning"), dash: [6, 4], width: 1.5, points: { show: false }, value: (u, v) => TM.fmt.bytes(v) },
      ],
      axes: axes(dateLabels, DAY_STEPS, TM.fmt.bytes),
      cursor: { drag: { x: false, y: false } },
    }));
  };
})();
