// The live connection table: keyed by connection id, sortable by any column,
// filterable, and updated in place every tick.
//
// It has to stay cheap with 1,000 rows. Laying out and painting 1,000 rows of
// changing text costs Chromium far more than a frame, so only the rows in or
// near the viewport exist in the DOM (the page scrolls as usual: spacer rows
// stand in for the others, every row having the same height). A tick touches as
// little as it can: rows are <tr> elements kept per connection id and recycled
// through a pool as they enter and leave the viewport, a row is repainted only
// when its record changed, a cell's text node is written only when its text
// changed, and rows are moved only when the order really changed. While the
// pointer is over the rows or the keyboard is in them, the order is held
// (newcomers go to the end), so the row someone is reading or about to click
// does not run away.
"use strict";

(function () {
  const TM = window.TM;

  const NUMERIC = new Set(["pid", "upload_speed", "download_speed", "bytes_sent", "bytes_received", "duration"]);
  const FORMATS = {
    pid: (r) => (r.pid === null ? "—" : String(r.pid)),
    state: (r) => (r.closed ? "closed" : r.state || "—"),
    upload_speed: (r) => TM.fmt.rate(r.upload_speed),
    download_speed: (r) => TM.fmt.rate(r.download_speed),
    bytes_sent: (r) => TM.fmt.bytes(r.bytes_sent),
    bytes_received: (r) => TM.fmt.bytes(r.bytes_received),
    duration: (r) => TM.fmt.duration(r.duration),
    // The precise name (TCP, UDP, ICMPv6…): `protocol` is the seed's socket type (SOCK_STREAM…).
    protocol: (r) => transportName(r.transport),
    // The reverse-DNS name first when the server knows it, the address always.
    remote_addr: (r) => (r.remote_name ? r.remote_name + " (" + r.remote_addr + ")" : r.remote_addr),
  };
  // `transport` is capture's protocol name in lower case (capture/flows.py); these few are not all capitals.
  const TRANSPORT_NAMES = { icmpv6: "ICMPv6", udplite: "UDPLite", "non-ip": "non-IP" };
  const POOL_SIZE = 200;
  const OVERSCAN = 10; // rows kept beyond each edge of the viewport, for smooth scrolling
  const MIN_ROWS = 40; // rows rendered even while the table is out of view

  function transportName(transport) {
    return TRANSPORT_NAMES[transport] || String(transport).toUpperCase();
  }

  function plain(key) {
    return (r) => (r[key] === null || r[key] === undefined || r[key] === "" ? "—" : String(r[key]));
  }

  function byId(a, b) {
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  class ConnectionTable {
    // `section` holds the <table> (its header cells name their column in data-key),
    // a search input, and the elements named by data-role: count, empty, hint.
    constructor(section) {
      this.table = section.querySelector("table");
      this.tbody = this.table.tBodies[0];
      this.headers = [...this.table.tHead.rows[0].cells];
      this.keys = this.headers.map((th) => th.dataset.key);
      this.labels = this.headers.map((th) => th.textContent.trim());
      this.formats = this.keys.map((key) => FORMATS[key] || plain(key));
      this.linked = this.keys.includes("process_name");
      this.filterInput = section.querySelector("input[type=search]");
      this.countEl = section.querySelector('[data-role="count"]');
      this.emptyEl = section.querySelector('[data-role="empty"]');
      this.hintEl = section.querySelector('[data-role="hint"]');

      this.records = new Map(); // connection id -> record
      this.byHandle = new Map(); // table-stream handle -> record
      this.rows = new Map(); // connection id -> <tr>, for the rows in the DOM
      this.pool = [];
      this.order = []; // every shown record, sorted
      this.rowHeight = 0;
      this.topSpacer = this.makeSpacer();
      this.bottomSpacer = this.makeSpacer();
      this.tbody.append(this.topSpacer, this.bottomSpacer);
      this.scrollPending = false;
      this.total = 0;
      this.seq = null;
      this.synced = false;
      this.wire = null;
      this.onDesync = () => {};

      this.sortKey = "download_speed";
      this.sortDir = -1;
      this.filter = "";
      this.selected = null;
      this.pointerInside = false;
      this.focusInside = false;
      this.tabbable = null;
      this.bind();
      this.showSort();
    }

    // ---- data in ----

    // Full connection objects (the WebSocket's `initial` message): replace everything.
    setConnections(list, total) {
      const fresh = new Map();
      for (const conn of list) {
        const rec = this.records.get(conn.id) || { version: 0 };
        Object.assign(rec, conn);
        this.touch(rec);
        fresh.set(conn.id, rec);
      }
      this.records = fresh;
      this.byHandle = new Map();
      this.synced = false;
      this.total = total;
    }

    // A `table` part: a keyframe (base null) or a delta on the tick `base` (see web/live/table.py).
    applyTable(seq, part) {
      if (part.base === null) {
        this.wire = { columns: part.columns, moving: part.moving };
        const previous = this.records;
        this.records = new Map();
        this.byHandle = new Map();
        for (const row of part.add) this.addRow(row, previous);
        this.synced = true;
      } else {
        if (!this.synced) return; // the keyframe our subscription asked for is on its way
        if (part.base !== this.seq || !this.applyDelta(part)) {
          this.synced = false;
          this.onDesync();
          return;
        }
      }
      this.seq = seq;
      this.total = part.total;
    }

    // Returns false when the delta names a row this table does not hold (out of sync).
    applyDelta(part) {
      for (const row of part.add) this.addRow(row, this.records);
      const moving = this.wire.moving;
      for (const row of part.change) {
        const rec = this.byHandle.get(row[0]);
        if (!rec) return false;
        for (let i = 0; i < moving.length; i++) rec[moving[i]] = row[i + 1];
        rec.version += 1;
      }
      for (const handle of part.remove) {
        const rec = this.byHandle.get(handle);
        if (!rec) return false;
        this.byHandle.delete(handle);
        this.records.delete(rec.id);
      }
      return true;
    }

    addRow(row, previous) {
      const columns = this.wire.columns;
      const id = row[1 + columns.indexOf("id")];
      const rec = previous.get(id) || { version: 0 };
      for (let i = 0; i < columns.length; i++) rec[columns[i]] = row[i + 1];
      this.touch(rec);
      this.records.set(id, rec);
      this.byHandle.set(row[0], rec);
    }

    touch(rec) {
      rec.version += 1;
      rec.search = [rec.process_name, rec.pid, rec.local_addr, rec.remote_addr, rec.remote_name || "", transportName(rec.transport)]
        .join(" ")
        .toLowerCase();
    }

    // ---- DOM out ----

    // Sort and filter everything, then show the part of it that is in view.
    render() {
      const shown = [];
      for (const rec of this.records.values()) {
        if (!this.filter || rec.search.includes(this.filter)) shown.push(rec);
      }
      this.order = this.held() ? this.heldOrder(shown) : shown.sort(this.comparator());
      this.table.setAttribute("aria-rowcount", String(this.order.length + 1));
      this.renderWindow();
      this.updateCount(this.order.length);
    }

    // The rows within (or near) the viewport; spacers take the height of the rest.
    renderWindow() {
      const order = this.order;
      const height = this.rowHeight || 30;
      const top = this.tbody.getBoundingClientRect().top;
      let first = Math.max(0, Math.floor(-top / height) - OVERSCAN);
      let last = Math.min(order.length, Math.ceil((window.innerHeight - top) / height) + OVERSCAN);
      if (last - first < MIN_ROWS) {
        first = Math.min(first, Math.max(0, order.length - MIN_ROWS));
        last = Math.min(order.length, first + MIN_ROWS);
      }
      const wanted = new Set();
      for (let i = first; i < last; i++) wanted.add(order[i].id);
      for (const [id, tr] of this.rows) {
        if (!wanted.has(id)) this.release(id, tr);
      }
      let cursor = this.topSpacer.nextElementSibling;
      for (let i = first; i < last; i++) {
        const rec = order[i];
        let tr = this.rows.get(rec.id);
        if (tr === undefined) {
          tr = this.pool.pop() || this.makeRow();
          tr.dataset.id = rec.id;
          this.rows.set(rec.id, tr);
        }
        if (tr.rec !== rec || tr.version !== rec.version) this.paint(tr, rec);
        if (tr.index !== i) {
          tr.setAttribute("aria-rowindex", String(i + 2));
          tr.index = i;
        }
        if (tr === cursor) cursor = cursor.nextElementSibling;
        else this.tbody.insertBefore(tr, cursor);
      }
      this.topSpacer.firstChild.style.height = first * height + "px";
      this.bottomSpacer.firstChild.style.height = (order.length - last) * height + "px";
      if (!this.rowHeight && last > first) {
        this.rowHeight = this.topSpacer.nextElementSibling.getBoundingClientRect().height;
      }
      this.updateTabStop();
    }

    // Scrolling only moves the window: at most once per frame, no re-sorting.
    onScroll() {
      if (this.scrollPending) return;
      this.scrollPending = true;
      requestAnimationFrame(() => {
        this.scrollPending = false;
        this.renderWindow();
      });
    }

    held() {
      return this.pointerInside || this.focusInside;
    }

    heldOrder(shown) {
      const byId = new Map(shown.map((rec) => [rec.id, rec]));
      const order = [];
      for (const previous of this.order) {
        const rec = byId.get(previous.id);
        if (rec) {
          order.push(rec);
          byId.delete(previous.id);
        }
      }
      for (const rec of byId.values()) order.push(rec);
      return order;
    }

    comparator() {
      const key = this.sortKey;
      const dir = this.sortDir;
      if (NUMERIC.has(key)) {
        return (a, b) => ((a[key] ?? -1) - (b[key] ?? -1)) * dir || byId(a, b);
      }
      const format = FORMATS[key];
      const text = format ? (r) => format(r).toLowerCase() : (r) => String(r[key] ?? "").toLowerCase();
      return (a, b) => {
        const x = text(a);
        const y = text(b);
        return (x < y ? -1 : x > y ? 1 : 0) * dir || byId(a, b);
      };
    }

    makeSpacer() {
      const tr = document.createElement("tr");
      tr.className = "spacer";
      tr.setAttribute("aria-hidden", "true");
      const td = document.createElement("td");
      td.colSpan = this.keys.length;
      tr.append(td);
      return tr;
    }

    makeRow() {
      const tr = document.createElement("tr");
      tr.tabIndex = -1;
      tr.cells_ = this.keys.map((key, i) => {
        const td = document.createElement("td");
        td.className = "col-" + key;
        td.dataset.label = this.labels[i]; // shown beside the figure where rows are stacked (phone width)
        const text = document.createTextNode("");
        if (key === "process_name") {
          const link = document.createElement("a");
          link.append(text);
          td.append(link);
        } else {
          td.append(text);
        }
        tr.append(td);
        return { td, text, shown: null, titled: key.endsWith("_addr") };
      });
      tr.link = null;
      return tr;
    }

    paint(tr, rec) {
      for (let i = 0; i < this.keys.length; i++) {
        const value = this.formats[i](rec);
        const cell = tr.cells_[i];
        if (cell.shown !== value) {
          cell.text.data = value;
          cell.shown = value;
          if (cell.titled) cell.td.title = value; // addresses may be cut short by the column width
        }
      }
      const link = !this.linked || rec.pid === null || rec.pid === undefined ? null : "/processes/" + rec.pid;
      if (tr.link !== link) {
        const anchor = tr.querySelector(".col-process_name a");
        if (link) anchor.setAttribute("href", link);
        else if (anchor) anchor.removeAttribute("href");
        tr.link = link;
      }
      const title = rec.cmdline ? rec.cmdline + (rec.username ? " (user " + rec.username + ")" : "") : "";
      if (tr.title !== title) tr.title = title;
      if (tr.closed !== rec.closed) {
        tr.classList.toggle("closed", Boolean(rec.closed));
        tr.closed = rec.closed;
      }
      const selected = rec.id === this.selected;
      if (tr.selected !== selected) {
        tr.classList.toggle("selected", selected);
        if (selected) tr.setAttribute("aria-current", "true");
        else tr.removeAttribute("aria-current");
        tr.selected = selected;
      }
      tr.rec = rec;
      tr.version = rec.version;
    }

    release(id, tr) {
      tr.remove();
      this.rows.delete(id);
      if (this.tabbable === tr) this.tabbable = null;
      tr.rec = null;
      tr.index = null;
      if (this.pool.length < POOL_SIZE) this.pool.push(tr);
    }

    updateCount(shown) {
      const held = this.records.size;
      let text = TM.fmt.count(held) + (held === 1 ? " connection" : " connections");
      if (this.total > held) text += " (the " + TM.fmt.count(held) + " busiest of " + TM.fmt.count(this.total) + ")";
      if (this.filter) text = TM.fmt.count(shown) + " of " + text + " match";
      this.countEl.textContent = text;
      this.emptyEl.hidden = shown > 0;
      this.emptyEl.textContent = held === 0 ? "No connections right now." : "No connection matches “" + this.filterInput.value.trim() + "”.";
      this.hintEl.classList.toggle("on", this.held());
    }

    // One row is in the tab order (the selected one, else the first): arrow keys do the rest.
    updateTabStop() {
      const firstRow = this.topSpacer.nextElementSibling;
      const target = (this.selected !== null && this.rows.get(this.selected)) || (firstRow === this.bottomSpacer ? null : firstRow);
      if (target === this.tabbable) return;
      if (this.tabbable) this.tabbable.tabIndex = -1;
      if (target) target.tabIndex = 0;
      this.tabbable = target;
    }

    // ---- interaction ----

    bind() {
      this.headers.forEach((th) => {
        th.querySelector("button").addEventListener("click", () => this.sortBy(th.dataset.key));
      });
      this.filterInput.addEventListener("input", () => {
        this.filter = this.filterInput.value.trim().toLowerCase();
        this.render();
      });
      this.tbody.addEventListener("pointerenter", () => {
        this.pointerInside = true;
        this.hintEl.classList.add("on");
      });
      this.tbody.addEventListener("pointerleave", () => {
        this.pointerInside = false;
        this.render();
      });
      this.tbody.addEventListener("focusin", () => {
        this.focusInside = true;
        this.hintEl.classList.add("on");
      });
      this.tbody.addEventListener("focusout", (event) => {
        if (this.tbody.contains(event.relatedTarget)) return;
        this.focusInside = false;
        this.render();
      });
      this.tbody.addEventListener("click", (event) => {
        const tr = event.target.closest("tr");
        if (tr && !event.target.closest("a[href]")) this.select(tr.dataset.id === this.selected ? null : tr.dataset.id);
      });
      this.tbody.addEventListener("keydown", (event) => this.onKey(event));
      window.addEventListener("scroll", () => this.onScroll(), { passive: true });
      window.addEventListener("resize", () => this.onScroll());
    }

    sortBy(key) {
      if (key === this.sortKey) this.sortDir = -this.sortDir;
      else {
        this.sortKey = key;
        this.sortDir = NUMERIC.has(key) ? -1 : 1;
      }
      this.showSort();
      this.pointerInside = false;
      this.focusInside = false;
      this.render();
    }

    showSort() {
      for (const th of this.headers) {
        const state = th.dataset.key !== this.sortKey ? "none" : this.sortDir > 0 ? "ascending" : "descending";
        th.setAttribute("aria-sort", state);
      }
    }

    select(id) {
      const before = this.selected === null ? null : this.rows.get(this.selected);
      this.selected = id;
      for (const tr of [before, id === null ? null : this.rows.get(id)]) {
        if (tr && tr.rec) this.paint(tr, tr.rec);
      }
      this.updateTabStop();
    }

    onKey(event) {
      const tr = event.target.closest("tr");
      if (!tr || tr.index === null || tr.index === undefined) return;
      let next = null;
      if (event.key === "ArrowDown") next = tr.index + 1;
      else if (event.key === "ArrowUp") next = tr.index - 1;
      else if (event.key === "PageDown") next = tr.index + Math.floor(window.innerHeight / this.rowHeight) - 1;
      else if (event.key === "PageUp") next = tr.index - Math.floor(window.innerHeight / this.rowHeight) + 1;
      else if (event.key === "Home") next = 0;
      else if (event.key === "End") next = this.order.length - 1;
      else if (event.key === "Escape") this.select(null);
      else if (event.key === "Enter" && tr.link) window.location.href = tr.link;
      else if (event.key === " ") this.select(tr.dataset.id === this.selected ? null : tr.dataset.id);
      else return;
      event.preventDefault();
      if (next !== null) this.moveTo(Math.max(0, Math.min(this.order.length - 1, next)));
    }

    // The height the header covers at the top of the viewport: none where it does not stick (phone width).
    stickyHeader() {
      const th = this.headers[0];
      return getComputedStyle(th).position === "sticky" ? this.table.tHead.getBoundingClientRect().height : 0;
    }

    // Select and focus the row at `index` of the order, scrolling it into view first.
    moveTo(index) {
      const rec = this.order[index];
      if (!rec) return;
      const top = this.tbody.getBoundingClientRect().top + index * this.rowHeight;
      const header = this.stickyHeader();
      if (top < header) window.scrollBy(0, top - header);
      else if (top + this.rowHeight > window.innerHeight) window.scrollBy(0, top + this.rowHeight - window.innerHeight);
      this.renderWindow();
      this.select(rec.id);
      const tr = this.rows.get(rec.id);
      if (tr) tr.focus({ preventScroll: true });
    }
  }

  TM.ConnectionTable = ConnectionTable;
})();
