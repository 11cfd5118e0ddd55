// The months page (/months): the current billing period and the archive of
// closed ones, from GET /api/months, newest first.
"use strict";

(function () {
  const TM = window.TM;
  const section = document.getElementById("months");
  const tbody = document.querySelector("#months-table tbody");

  function period(month) {
    const start = new Date(TM.time.seconds(month.start) * 1000).toLocaleDateString();
    const end = new Date(TM.time.seconds(month.end) * 1000).toLocaleDateString();
    return start + " – " + end + (month.current ? " (current)" : "");
  }

  function topNames(processes) {
    if (!processes || !processes.length) return "—";
    return processes
      .slice(0, 3)
      .map((p) => p.name + " " + TM.fmt.bytes(p.bytes_sent) + " out")
      .join(", ");
  }

  async function load() {
    const result = await TM.api("GET", "/api/months");
    const error = section.querySelector("[data-role=error]");
    error.hidden = result.ok;
    if (!result.ok) {
      error.textContent = "Could not load the billing periods: " + result.error;
      return;
    }
    tbody.replaceChildren(
      ...result.data.months.map((m) =>
        TM.el(
          "tr",
          { class: m.current ? "current" : "" },
          TM.el("th", { scope: "row", text: period(m) }),
          TM.el("td", { class: "num", text: TM.fmt.bytes(m.outbound) }),
          TM.el("td", { class: "num", text: TM.fmt.bytes(m.inbound) }),
          TM.el("td", { class: "num", text: TM.fmt.bytes(m.offset) }),
          TM.el("td", { class: "num", text: TM.fmt.bytes(m.counted) + " (" + m.cap_counts + ")" }),
          TM.el("td", { class: "num", text: TM.fmt.bytes(m.cap_bytes) }),
          TM.el("td", { class: "num", text: TM.fmt.percent(m.used_percent) }),
          TM.el("td", { text: m.peak_day ? m.peak_day.date + ": " + TM.fmt.bytes(m.peak_day.counted) : "—" }),
          TM.el("td", { text: topNames(m.processes) })
        )
      )
    );
  }

  load();
})();
