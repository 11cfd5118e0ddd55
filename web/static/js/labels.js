// The daily, months and audit tables are stacked into one card per row at phone width
// (app.css), where a cell no longer sits under its column's heading: each cell is given
// its heading's text as data-label, shown beside the figure. Rows come and go as the
// pages load them, so the labels follow every change of a table's rows.
"use strict";

(function () {
  function label(table) {
    const names = [...table.tHead.rows[0].cells].map((th) => th.textContent.trim());
    for (const row of table.tBodies[0].rows) {
      for (const cell of row.cells) {
        if (cell.colSpan === 1 && names[cell.cellIndex]) cell.dataset.label = names[cell.cellIndex];
      }
    }
  }

  for (const table of document.querySelectorAll("table.data-table")) {
    label(table);
    new MutationObserver(() => label(table)).observe(table.tBodies[0], { childList: true });
  }
})();
