// The portfolio page's equity and drawdown charts (uPlot) from each account's series, JSON in the chart
// box's data-chart-series attribute (read with JSON.parse, never executed; an attribute rather than a
// <script type="application/json"> block because an htmx refresh drops script elements). Charts are
// redrawn after an htmx swap of the page's body, when
// the theme changes (their colours are the page's CSS variables) and when their box changes width.
"use strict";

(function () {
  const DAY = 86400;
  const WINDOWS = { "1M": 30 * DAY, "3M": 91 * DAY, "1Y": 365 * DAY, "All": null };
  let charts = [];
  let chosen = "All";
  let syncing = false;

  // A zoom (drag across a chart) or a period on one chart of an account shows the same period on the other.
  function followZoom(u, key) {
    if (key !== "x" || syncing) return;
    syncing = true;
    const mine = charts.find((item) => item.chart === u);
    charts.forEach((item) => {
      if (mine && item.chart !== u && item.key === mine.key) item.chart.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
    });
    syncing = false;
  }

  function colour(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function money(value) {
    return value == null ? "-" : value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function axis(format) {
    const text = colour("--text", "#1b1f24");
    const line = colour("--line", "#d0d7de");
    const spec = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    if (format) {
      spec.values = (u, values) => values.map(format);
      // wide enough for the longest label ("101,000" or "-12.5 %"), which uPlot would otherwise cut
      spec.size = (u, values) => (values && values.length ? Math.max.apply(null, values.map((v) => String(v).length)) * 8 + 22 : 50);
    }
    return spec;
  }

  function plot(box, width, data, kind, key) {
    const equity = kind === "equity";
    const stroke = equity ? colour("--accent", "#0a58ca") : colour("--bad", "#a40e26");
    const options = {
      width: width,
      height: equity ? 240 : 150,
      cursor: { sync: { key: key } },
      hooks: { setScale: [followZoom] },
      scales: { x: { time: true } },
      axes: [axis(null), axis(equity ? (v) => Math.round(v).toLocaleString("en-US") : (v) => v.toFixed(1) + " %")],
      series: [
        {},
        equity
          ? { label: "Equity", stroke: stroke, width: 2, value: (u, v) => money(v) }
          : { label: "Drawdown", stroke: stroke, width: 1.5, fill: colour("--bad-bg", "#ffebe9"), value: (u, v) => (v == null ? "-" : v.toFixed(2) + " %") },
      ],
    };
    return new window.uPlot(options, [data.t, equity ? data.equity : data.drawdown], box);
  }

  // The period shown is also left on the figure (data-shown-from/-to, Unix seconds) for tests and tools.
  function applyWindow(item) {
    const span = WINDOWS[chosen];
    const last = item.data.t[item.data.t.length - 1];
    const first = item.data.t[0];
    const min = span === null ? first : Math.max(first, last - span);
    item.chart.setScale("x", { min: min, max: last });
    item.figure.dataset.shownFrom = String(min);
    item.figure.dataset.shownTo = String(last);
  }

  function draw(holder, number) {
    let data;
    try { data = JSON.parse(holder.dataset.chartSeries); } catch (e) { return; }
    if (!data || !Array.isArray(data.t) || !data.t.length) return;
    holder.querySelectorAll("[data-plot]").forEach((figure) => {
      figure.querySelectorAll(".uplot").forEach((old) => old.remove());
      const box = document.createElement("div");
      figure.appendChild(box);
      const width = Math.max(200, Math.floor(figure.clientWidth));
      const key = "account-" + number;
      const item = { chart: plot(box, width, data, figure.dataset.plot, key), figure: figure, data: data, key: key };
      applyWindow(item);
      charts.push(item);
    });
  }

  function drawAll() {
    charts.forEach((item) => item.chart.destroy());
    charts = [];
    if (!window.uPlot) return;
    document.querySelectorAll("[data-chart-series]").forEach((holder, number) => draw(holder, number));
    document.querySelectorAll("[data-chart-window]").forEach((button) => {
      button.setAttribute("aria-pressed", String(button.dataset.chartWindow === chosen));
    });
  }

  function resize() {
    charts.forEach((item) => {
      const width = Math.max(200, Math.floor(item.figure.clientWidth));
      if (width !== item.chart.width) item.chart.setSize({ width: width, height: item.chart.height });
    });
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-chart-window]");
    if (!button || !(button.dataset.chartWindow in WINDOWS)) return;
    chosen = button.dataset.chartWindow;
    document.querySelectorAll("[data-chart-window]").forEach((other) => {
      other.setAttribute("aria-pressed", String(other.dataset.chartWindow === chosen));
    });
    charts.forEach(applyWindow);
  });

  // After a refresh swapped the body in (htmx:load fires on the new content), its chart boxes are empty
  // and the old charts are gone.
  function drawIfNeeded() {
    const stale = charts.some((item) => !item.figure.isConnected);
    const undrawn = Array.from(document.querySelectorAll("[data-plot]")).some((figure) => !figure.querySelector(".uplot"));
    if (stale || undrawn) drawAll();
  }

  document.addEventListener("htmx:load", drawIfNeeded);
  document.addEventListener("DOMContentLoaded", () => {
    drawIfNeeded();
    new MutationObserver(drawAll).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawAll);
    let timer = null;
    window.addEventListener("resize", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(resize, 100);
    });
  });
})();
