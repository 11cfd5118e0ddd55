// The daily page (/daily): outbound/inbound bars per day from GET /daily-chart,
// with the cap's daily budget (the cap shared evenly over the period's days)
// as a dashed line, and the same figures as a table, newest day first.
"use strict";

(function () {
  const TM = window.TM;
  const section = document.getElementById("daily");
  const error = section.querySelector("[data-role=error]");
  const periodNote = section.querySelector("[data-role=period]");
  const tbody = document.querySelector("#daily-table tbody");
  const chart = TM.DailyChart(document.getElementById("daily-chart"));
  const daysSelect = document.getElementById("daily-days");
  const DAY_FORMAT = { weekday: "short", year: "numeric", month: "short", day: "numeric" };

  async function load() {
    const days = daysSelect.value;
    const result = await TM.api("GET", "/daily-chart" + (days ? "?days=" + days : ""));
    error.hidden = result.ok;
    if (!result.ok) {
      error.textContent = "Could not load the daily totals: " + result.error;
      return;
    }
    const data = result.data;
    const budget = data.daily_budget;
    // Noon of each local date: the bar sits in the middle of its day whatever the zone.
    const x = data.days.map((d) => Date.parse(d.date + "T12:00:00") / 1000);
    chart.setData([x, data.days.map((d) => d.outbound), data.days.map((d) => d.inbound), data.days.map(() => budget)]);
    periodNote.textContent =
      "Billing period " + new Date(TM.time.seconds(data.start) * 1000).toLocaleDateString() + " – " +
      new Date(TM.time.seconds(data.end) * 1000).toLocaleDateString() + " (" + data.period_days + " days, " +
      data.timezone + "). Daily budget " + TM.fmt.bytes(budget) + " of " + data.cap_counts +
      " traffic; what is left allows " + TM.fmt.bytes(data.remaining_per_day) + " a day.";
    const rows = data.days.map((d, i) =>
      TM.el(
        "tr",
        {},
        TM.el("th", { scope: "row", text: new Date(x[i] * 1000).toLocaleDateString(undefined, DAY_FORMAT) }),
        TM.el("td", { class: "num", text: TM.fmt.bytes(d.outbound) }),
        TM.el("td", { class: "num", text: TM.fmt.bytes(d.inbound) }),
        TM.el("td", { class: "num", text: TM.fmt.bytes(d.counted) }),
        TM.el("td", { class: "num" + (d.counted > budget ? " over" : ""), text: TM.fmt.percent((100 * d.counted) / budget, 0) })
      )
    );
    tbody.replaceChildren(...rows.reverse());
  }

  daysSelect.addEventListener("change", load);
  load();
})();
