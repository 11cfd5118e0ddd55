// The process page (/processes/{pid}): one process's live figures (its speeds
// over the window chosen), its speed since the page was opened (over the speed
// window, as its connections'), and its connections — a WebSocket subscription
// filtered to this pid, so the server sends only this process's rows.
"use strict";

(function () {
  const TM = window.TM;
  const pid = TM.settings.pid;
  const card = document.getElementById("process");
  const gone = card.querySelector("[data-role=gone]");
  const chart = TM.RateChart(document.getElementById("process-chart"), [
    ["Upload", "--up"],
    ["Download", "--down"],
  ]);
  const history = [[], [], []];
  const table = new TM.ConnectionTable(document.getElementById("connections"));
  let last;

  function showProcess(proc, timestamp) {
    last = proc;
    gone.hidden = proc !== undefined;
    const [times, up, down] = history;
    times.push(timestamp);
    up.push(proc ? proc.upload_speed : 0);
    down.push(proc ? proc.download_speed : 0);
    while (times.length && times[0] < timestamp - TM.settings.history_length) {
      times.shift();
      up.shift();
      down.shift();
    }
    chart.setData(history);
    fill(proc);
  }

  function fill(proc) {
    if (!proc) return;
    const average = TM.speeds.average;
    document.title = "trafficmon — " + proc.name + " (pid " + pid + ")";
    TM.fill(card, {
      name: proc.name,
      cmdline: proc.cmdline || "—",
      username: proc.username || "—",
      connections: TM.fmt.count(proc.connections),
      upload_speed: TM.fmt.rate(average ? proc.average_upload_speed : proc.upload_speed),
      download_speed: TM.fmt.rate(average ? proc.average_download_speed : proc.download_speed),
      bytes_sent: TM.fmt.bytes(proc.bytes_sent),
      bytes_received: TM.fmt.bytes(proc.bytes_received),
    });
  }

  function onMessage(message) {
    if (message.type === "initial") {
      const mine = message.data.connections.filter((c) => c.pid === pid);
      table.setConnections(mine, mine.length);
      table.render();
    } else if (message.type === "update") {
      if (message.data.table) {
        table.applyTable(message.seq, message.data.table);
        table.render();
      }
      if (message.data.processes) {
        showProcess(message.data.processes.find((p) => p.pid === pid), message.timestamp);
      }
    } else if (message.type === "alert") {
      TM.showAlert(message.data);
    }
  }

  const socket = new TM.LiveSocket({
    subscription: { type: "subscribe", topics: ["table", "processes", "alerts"], filter: { pid } },
    onMessage,
  });
  table.onDesync = () => socket.resubscribe();
  TM.speeds.onChange(() => fill(last)); // a new choice of window shows at once
  socket.start();
})();
