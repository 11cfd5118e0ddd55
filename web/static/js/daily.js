// The daily page (/daily): outbound/inbound bars per day from GET /daily-chart,
// with the cap's daily budget (the cap shared evenly over the period's days)
// as a dashed line, and the same figures as a table, newest day first.
// The days are the server's (`dates`, in the period's zone): by default the
// whole billing period, its days still to come empty.
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
    const byDate = new Map(data.days.map((d) => [d.date, d]));
    const value = (field) => data.dates.map((date) => (byDate.has(date) ? byDate.get(date)[field] : null));
    chart.show(data.dates, value("outbound"), value("inbound"), data.dates.map(() => budget));
    periodNote.textContent =
      "Billing period " + TM.time.date(data.first_day, DAY_FORMAT) + " – " + TM.time.date(data.last_day, DAY_FORMAT) +
      " (" + data.period_days + " days, " + data.timezone + "). Daily budget " + TM.fmt.bytes(budget) + " of " +
      data.cap_counts + " traffic; what is left allows " + TM.fmt.bytes(data.remaining_per_day) + " a day.";
    const rows = data.days.map((d) =>
      TM.el(
        "tr",
        d.date === data.today ? { class: "current" } : {},
        TM.el("th", { scope: "row" }, TM.el("time", { datetime: d.date, text: TM.time.date(d.date, DAY_FORMAT) })),
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
