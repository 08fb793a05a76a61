// Watchfloor console: the little the server cannot do. No inline script
// anywhere (the Content-Security-Policy forbids it); everything hangs off
// data- attributes the server renders.
(function () {
  "use strict";

  function span(ms) {
    var neg = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var t = d > 0 ? d + "d " + h + "h" : h > 0 ? h + "h " + pad(m) + "m" : m > 0 ? m + "m " + pad(sec) + "s" : sec + "s";
    return (neg ? "-" : "") + t;
  }

  // SLA and compliance clocks count down between server updates.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = parseInt(el.getAttribute("data-deadline"), 10) - now;
      el.textContent = left < 0 ? "breached " + span(-left) + " ago" : span(left);
      el.classList.toggle("breached", left < 0);
    });
  }
  setInterval(tick, 1000);

  // The incident queue keeps the selection and the scroll position when
  // live updates replace its rows.
  var selected = new Set();
  var anchor = null;
  document.addEventListener("change", function (e) {
    var box = e.target;
    if (box.matches && box.matches("input[data-select]")) {
      if (box.checked) { selected.add(box.value); } else { selected.delete(box.value); }
      var row = box.closest("tr");
      if (row) { row.classList.toggle("selected", box.checked); }
      var count = document.getElementById("selected-count");
      if (count) { count.textContent = selected.size; }
    }
    if (box.id === "select-all") {
      document.querySelectorAll("input[data-select]").forEach(function (b) {
        b.checked = box.checked;
        b.dispatchEvent(new Event("change", { bubbles: true }));
      });
    }
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "queue-rows") { return; }
    anchor = null;
    var rows = e.detail.target.querySelectorAll("tr[data-id]");
    for (var i = 0; i < rows.length; i++) {
      var top = rows[i].getBoundingClientRect().top;
      if (top >= 0) { anchor = { id: rows[i].getAttribute("data-id"), top: top }; break; }
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "queue-rows") { tick(); return; }
    e.detail.target.querySelectorAll("input[data-select]").forEach(function (b) {
      b.checked = selected.has(b.value);
      var row = b.closest("tr");
      if (row) { row.classList.toggle("selected", b.checked); }
    });
    if (anchor) {
      var row = e.detail.target.querySelector('tr[data-id="' + anchor.id + '"]');
      if (row) { window.scrollBy(0, row.getBoundingClientRect().top - anchor.top); }
    }
    tick();
  });

  function si(v) {
    if (v === null || v === undefined) { return ""; }
    var a = Math.abs(v), units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) { return +(v / units[i][0]).toPrecision(3) + units[i][1]; }
    }
    return +v.toPrecision(3) + "";
  }

  // Charts: a data-series attribute holds {x: [epoch s], series: [{label, values}]}.
  function drawCharts(root) {
    if (typeof uPlot === "undefined") { return; }
    root.querySelectorAll(".chart[data-series]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      el.dataset.drawn = "1";
      var spec = JSON.parse(el.getAttribute("data-series"));
      // The server drew bars for browsers without script; the chart replaces them.
      el.textContent = "";
      var colours = ["#4cc2ff", "#ff8c3a", "#3ecf8e", "#f5c542"];
      var opts = {
        width: Math.max(el.clientWidth, 300), height: parseInt(el.dataset.height || "180", 10),
        // The query's range, so that one point is not stretched over years.
        scales: { x: spec.range ? { time: true, range: spec.range } : { time: true } },
        // Large values (bits per second, bytes) read as 400M, not a clipped 400,000,000.
        axes: [{ stroke: "#8ca0b3", grid: { stroke: "#2a3a4a" } },
               { stroke: "#8ca0b3", grid: { stroke: "#2a3a4a" }, size: 64, values: function (u, vals) { return vals.map(si); } }],
        series: [{}].concat(spec.series.map(function (s, i) {
          var o = { label: s.label, stroke: colours[i % colours.length], width: 1.5 };
          if (spec.bars) { o.paths = uPlot.paths.bars({ size: [0.9, 40] }); o.fill = colours[i % colours.length]; }
          return o;
        }))
      };
      new uPlot(opts, [spec.x].concat(spec.series.map(function (s) { return s.values; })), el);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); tick(); });
  document.addEventListener("htmx:afterSettle", function () { drawCharts(document); });

  // Keyboard: g then a letter moves between pages, / focuses the query,
  // ? shows the keys.
  var keys = { w: "/wallboard", i: "/incidents", a: "/alerts", s: "/search", r: "/rules", c: "/checks", t: "/topology", o: "/oncall" };
  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "/") {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
    } else if (e.key === "?") {
      var help = document.getElementById("keys");
      if (help) { help.classList.toggle("open"); }
    } else if (pendingG && keys[e.key]) {
      window.location.href = keys[e.key];
    }
    pendingG = e.key === "g";
  });
})();
