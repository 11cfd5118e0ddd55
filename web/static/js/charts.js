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
  const DAY_INDEX_STEPS = [1, 2, 3, 7, 14, 28, 56, 91, 182, 364];
  const DAY_LABEL = { month: "short", day: "numeric" };
  const DAY_TITLE = { weekday: "short", year: "numeric", month: "short", day: "numeric" };
  const AXIS_FONT = "12px system-ui, sans-serif";
  const LABEL_GAP = 12; // CSS pixels at least between two x labels

  // Clock times at whole-second steps (with the weekday once the chart spans days).
  function clockLabels(u, splits, axis, space, step) {
    const days = u.scales.x.max - u.scales.x.min > DAY;
    const format = { hour: "2-digit", minute: "2-digit" };
    if (step < MINUTE) format.second = "2-digit";
    if (days) format.weekday = "short";
    return splits.map((t) => new Date(t * 1000).toLocaleString(undefined, format));
  }

  function axes(xLabels, xSteps, yValues) {
    const axis = { font: AXIS_FONT, stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid") } };
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
      el.tmChart = this; // how the console (and the browser tests) reach the plot
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

  // The budget as one level line across the whole plot, not only from the first day's middle to the last's.
  function level(u, seriesIdx) {
    const value = u.data[seriesIdx][0];
    const stroke = new Path2D();
    if (value !== null && value !== undefined) {
      const y = Math.round(u.valToPos(value, "y", true));
      stroke.moveTo(u.bbox.left, y);
      stroke.lineTo(u.bbox.left + u.bbox.width, y);
    }
    return { stroke, fill: null, clip: null, band: null, gaps: null, flags: 0 };
  }

  // Outbound and inbound bars per day, and the cap's daily budget as a dashed line.
  // `show(dates, outbound, inbound, budget)`: `dates` are the server's calendar dates
  // (ISO, in the period's zone), a bar value per date or null (a day still to come).
  // The x scale is the day's index, one slot per day whatever the browser's zone or a
  // DST change, running half a slot past the first and the last day so that every bar
  // lies inside the plot. A date is labelled every so many days (1, 2, 3, 7, 14…): as
  // often as the widest label, with a gap, fits in the slots between two labels.
  TM.DailyChart = function (el) {
    let dates = [];
    let labelSpace = 0;
    const measure = document.createElement("canvas").getContext("2d");
    measure.font = AXIS_FONT;
    const label = (i) => (dates[i] === undefined ? "" : TM.time.date(dates[i], DAY_LABEL));
    const bars = (align) => uPlot.paths.bars({ size: [0.4, 40], align });
    const chart = new Chart(el, 300, () => {
      const [xAxis, yAxis] = axes((u, splits) => splits.map(label), DAY_INDEX_STEPS, TM.fmt.bytes);
      return {
        scales: {
          // From the data, not uPlot's min and max: it widens those of a single point.
          x: { time: false, range: (u) => [-0.5, u.data[0].length - 0.5] },
          y: { range: (u, min, max) => [0, Math.max(1e6, max * 1.1)] },
        },
        series: [
          { label: "Day", value: (u, v) => (v === null || dates[v] === undefined ? "—" : TM.time.date(dates[v], DAY_TITLE)) },
          // Filled, not outlined (width 0): a day without traffic draws nothing, not a line on the axis.
          { label: "Outbound", fill: css("--up"), stroke: css("--up"), width: 0, paths: bars(-1), points: { show: false }, value: (u, v) => TM.fmt.bytes(v) },
          { label: "Inbound", fill: css("--down"), stroke: css("--down"), width: 0, paths: bars(1), points: { show: false }, value: (u, v) => TM.fmt.bytes(v) },
          { label: "Daily budget", stroke: css("--warning"), dash: [6, 4], width: 1.5, paths: level, points: { show: false }, value: (u, v) => TM.fmt.bytes(v) },
        ],
        axes: [{ ...xAxis, space: () => labelSpace }, yAxis],
        cursor: { drag: { x: false, y: false } },
      };
    });
    return {
      show(days, outbound, inbound, budget) {
        dates = days;
        labelSpace = LABEL_GAP + Math.max(...days.map((d, i) => measure.measureText(label(i)).width));
        chart.setData([days.map((d, i) => i), outbound, inbound, budget]);
      },
    };
  };
})();
