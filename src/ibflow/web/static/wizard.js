// The strategy wizard (templates/wizard/new.html): one step at a time, each step's fields checked by the API
// before moving on, the schedule previewed, and the whole document sent to the JSON API at the end.
"use strict";

(function () {
  const LAST = 6;
  const OPTIONAL = new Set(["exchange", "conid", "analyst.model", "analyst.prompt_template",
    "analyst.prompt_version", "analyst.prompt"]);
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function send(method, url, body) {
    const headers = { "Accept": "application/json", "X-CSRF-Token": csrf() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const answer = await fetch(url, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await answer.json(); } catch (e) { data = null; }
    if (answer.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    }
    return { ok: answer.ok, status: answer.status, data: data };
  }

  function flash(text, kind) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = "";
    if (!text) return;
    const line = document.createElement("p");
    line.className = "flash-" + kind;
    line.textContent = text;
    box.appendChild(line);
  }

  function setPath(doc, path, value) {
    const parts = path.split(".");
    let at = doc;
    parts.slice(0, -1).forEach((part) => { at[part] = at[part] || {}; at = at[part]; });
    at[parts[parts.length - 1]] = value;
  }

  function number(raw) {
    const n = Number(raw);
    return raw !== "" && !Number.isNaN(n) ? n : raw;
  }

  function collect(form) {
    const doc = { timeframes: [], schedule: {}, analyst: {}, risk: {} };
    form.querySelectorAll("[data-doc]").forEach((el) => {
      const path = el.dataset.doc;
      const kind = el.dataset.kind || "text";
      if (kind === "list") { if (el.checked) doc[path].push(el.value); return; }
      if (kind === "bool") { setPath(doc, path, el.checked); return; }
      const value = "raw" in el.dataset ? el.value : el.value.trim();
      if (value.trim() === "" && OPTIONAL.has(path)) return;
      if (kind === "int") {
        const n = Number(value);
        setPath(doc, path, Number.isInteger(n) ? n : value);
        return;
      }
      setPath(doc, path, value);
    });
    doc.indicators = [];
    form.querySelectorAll("[data-indicator-row]").forEach((row) => {
      const source = row.querySelector('[data-ind="source"]').value;
      const name = row.querySelector('[data-ind="name"]').value.trim();
      const entry = source.startsWith("config:") ? { config: source.slice(7) } : { type: source };
      if (name) entry.name = name;
      entry.params = {};
      row.querySelectorAll("[data-param]").forEach((p) => { entry.params[p.dataset.param] = number(p.value.trim()); });
      doc.indicators.push(entry);
    });
    return doc;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for], [data-step-errors]").forEach((el) => { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(markValid);
  }

  // A bad field is aria-invalid and described by its message too (besides its allowed range).
  let errorIds = 0;
  function markInvalid(input, message) {
    if (!message.id) message.id = "wizard-error-" + errorIds++;
    if (!("describedBy" in input.dataset)) input.dataset.describedBy = input.getAttribute("aria-describedby") || "";
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", (input.dataset.describedBy + " " + message.id).trim());
  }

  function markValid(input) {
    input.removeAttribute("aria-invalid");
    if (!("describedBy" in input.dataset)) return;
    if (input.dataset.describedBy) input.setAttribute("aria-describedby", input.dataset.describedBy);
    else input.removeAttribute("aria-describedby");
    delete input.dataset.describedBy;
  }

  // Each bad field's message goes next to its field; returns the first step holding one (or null).
  function showErrors(form, problem) {
    const list = (problem && problem.errors) || [];
    const rows = form.querySelectorAll("[data-indicator-row]");
    const leftover = [];
    let first = null;
    list.forEach((item) => {
      const field = String(item.field || "");
      let text = item.problem || item.message || "";
      let el = form.querySelector('[data-error-for="' + CSS.escape(field) + '"]');
      const match = /^indicators\[(\d+)\]\.?/.exec(field);
      if (!el && match && rows[Number(match[1])]) {
        el = rows[Number(match[1])].querySelector('[data-error-for="indicators[]"]');
        const rest = field.slice(match[0].length);
        if (rest) text = rest + ": " + text;
      }
      if (!el) { leftover.push(field + ": " + text); return; }
      el.textContent = el.textContent ? el.textContent + "; " + text : text;
      const input = match ? null : form.querySelector('[data-doc="' + CSS.escape(field) + '"]');
      if (input) markInvalid(input, el);
      const step = el.closest("[data-step]");
      if (step && (first === null || Number(step.dataset.step) < first)) first = Number(step.dataset.step);
    });
    const box = form.querySelector("[data-step-errors]");
    if (box && leftover.length) box.textContent = leftover.join("; ");
    return first;
  }

  function problemText(problem, status) {
    return (problem && (problem.detail || problem.title)) || "the request failed (" + status + ")";
  }

  function start(form) {
    const steps = Array.from(form.querySelectorAll("[data-step]"));
    const labels = Array.from(form.querySelectorAll("[data-step-label]"));
    const back = form.querySelector("[data-wizard-back]");
    const next = form.querySelector("[data-wizard-next]");
    const create = form.querySelector("[data-wizard-create]");
    const strategyId = form.dataset.strategyId ? Number(form.dataset.strategyId) : null;
    let current = 1;
    let scheduleText = "";
    let busy = false;

    function show(n, focus) {
      current = n;
      steps.forEach((s) => { s.hidden = Number(s.dataset.step) !== n; });
      labels.forEach((li) => {
        const i = Number(li.dataset.stepLabel);
        if (i === n) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
        li.classList.toggle("done", i < n);
      });
      back.hidden = n === 1;
      next.hidden = n === LAST;
      create.hidden = n !== LAST;
      if (n === 4) preview();
      if (n === LAST) review();
      const heading = steps[n - 1].querySelector("h2");
      if (focus !== false && heading) heading.focus();
    }

    async function checkStep() {
      clearErrors(form);
      const step = steps[current - 1].dataset.check;
      const answer = await send("POST", "/api/v1/strategies/check",
        { step: step, document: collect(form), strategy_id: strategyId });
      if (answer.ok) { flash("", "ok"); return true; }
      const shown = showErrors(form, answer.data) !== null;
      flash(problemText(answer.data, answer.status) + (shown ? " (see the fields)" : ""), "error");
      return false;
    }

    async function goNext() {
      if (busy) return;
      busy = true;
      next.disabled = true;
      try {
        if (await checkStep()) show(current + 1);
      } catch (error) {
        flash("ibflow did not answer: " + error, "error");
      } finally {
        busy = false;
        next.disabled = false;
      }
    }

    async function submit() {
      if (busy) return;
      busy = true;
      create.disabled = true;
      clearErrors(form);
      try {
        const answer = await send(form.dataset.method, form.dataset.submit, collect(form));
        if (answer.ok && answer.data && answer.data.id) {
          window.location.assign("/strategies/" + answer.data.id);
          return;
        }
        const first = showErrors(form, answer.data);
        flash(problemText(answer.data, answer.status) + (first !== null ? " (see the fields)" : ""), "error");
        if (first !== null) show(first);
      } catch (error) {
        flash("ibflow did not answer: " + error, "error");
      } finally {
        busy = false;
        create.disabled = false;
      }
    }

    let timer = null;
    async function preview() {
      const cron = form.querySelector('[data-doc="schedule.cron"]').value.trim();
      const tz = form.querySelector('[data-doc="schedule.timezone"]').value.trim();
      const hours = form.querySelector('[data-doc="schedule.market_hours_only"]').checked;
      const text = form.querySelector("[data-schedule-text]");
      const runs = form.querySelector("[data-schedule-runs]");
      ["schedule.cron", "schedule.timezone"].forEach((f) => {
        form.querySelector('[data-error-for="' + f + '"]').textContent = "";
        markValid(form.querySelector('[data-doc="' + f + '"]'));
      });
      text.textContent = "";
      runs.textContent = "";
      scheduleText = "";
      if (!cron || !tz) return;
      const query = new URLSearchParams({ cron: cron, tz: tz, market_hours_only: String(hours) });
      const answer = await send("GET", "/api/v1/schedule/preview?" + query.toString());
      if (!answer.ok) { showErrors(form, answer.data); return; }
      scheduleText = answer.data.description;
      text.textContent = scheduleText + " (" + tz + " time). The next five runs:";
      let local = null;
      try {
        local = new Intl.DateTimeFormat("en-GB", { timeZone: tz, weekday: "short", year: "numeric",
          month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
      } catch (e) { local = null; }
      answer.data.runs.forEach((iso) => {
        const when = new Date(iso);
        const item = document.createElement("li");
        const time = document.createElement("time");
        time.dateTime = iso;
        const utc = iso.slice(0, 16).replace("T", " ") + " UTC";
        time.textContent = local ? local.format(when) + " " + tz + " (" + utc + ")" : utc;
        item.appendChild(time);
        runs.appendChild(item);
      });
    }

    function review() {
      const doc = collect(form);
      const list = form.querySelector("[data-review]");
      list.textContent = "";
      const add = (term, value) => {
        const div = document.createElement("div");
        const dt = document.createElement("dt");
        const dd = document.createElement("dd");
        dt.textContent = term;
        dd.textContent = value;
        div.append(dt, dd);
        list.appendChild(div);
      };
      const analyst = doc.analyst;
      add("Name", doc.name);
      if (doc.description) add("Description", doc.description);
      add("Symbol", doc.symbol + (doc.exchange ? " on " + doc.exchange : ""));
      add("Mode and timeframes", doc.mode + "; " + doc.timeframes.join(", "));
      add("Indicators", doc.indicators.map((i) => {
        const params = Object.entries(i.params).map(([k, v]) => k + " " + v).join(", ");
        return (i.config ? "saved config " + i.config : i.type) + (i.name ? " as " + i.name : "") +
          (params ? " (" + params + ")" : "");
      }).join("; ") || "none");
      add("Analyst", analyst.provider + (analyst.model ? ", model " + analyst.model : "") + ", " +
        analyst.analysis_mode);
      add("Prompt", analyst.prompt ? "its own text" : analyst.prompt_template
        ? analyst.prompt_template + (analyst.prompt_version ? " version " + analyst.prompt_version : ", newest version")
        : "the default prompt");
      const s = doc.schedule;
      add("Schedule", s.cron + " in " + s.timezone + (s.market_hours_only ? ", only while NYSE is open" : "") +
        (scheduleText ? ": " + scheduleText : ""));
      add("Risk", Object.entries(doc.risk).map(([k, v]) => k.replace(/_/g, " ") + " " + v).join("; "));
    }

    function withRow(template, row) {
      const part = template.content.cloneNode(true);
      part.querySelectorAll("[id], [for], [aria-describedby]").forEach((el) => {
        ["id", "for", "aria-describedby"].forEach((name) => {
          const value = el.getAttribute(name);
          if (value) el.setAttribute(name, value.replace(/ROW/g, row));
        });
      });
      return part;
    }

    let rowCount = form.querySelectorAll("[data-indicator-row]").length;
    const rows = form.querySelector("[data-indicator-rows]");
    function addIndicator() {
      const row = "n" + rowCount++;
      rows.appendChild(withRow(document.getElementById("indicator-row-template"), row));
      rows.lastElementChild.querySelector("select").focus();
    }

    function changeSource(select) {
      const row = select.id.replace(/^ind-/, "").replace(/-source$/, "");
      const box = select.closest("[data-indicator-row]").querySelector("[data-params]");
      box.textContent = "";
      if (select.value.startsWith("config:")) {
        const note = document.createElement("p");
        note.className = "muted";
        note.textContent = "Uses the saved config's parameters.";
        box.appendChild(note);
        return;
      }
      const template = document.getElementById("params-" + select.value);
      if (template) box.appendChild(withRow(template, row));
    }

    async function searchSymbols() {
      const input = form.querySelector('[data-doc="symbol"]');
      const results = form.querySelector("[data-symbol-results]");
      const error = form.querySelector('[data-error-for="symbol"]');
      results.textContent = "";
      error.textContent = "";
      const q = input.value.trim();
      if (!q) { error.textContent = "type a symbol or a company name to search"; return; }
      const answer = await send("GET", "/api/v1/symbols?q=" + encodeURIComponent(q));
      if (!answer.ok) { error.textContent = problemText(answer.data, answer.status); return; }
      if (!answer.data.length) { error.textContent = "no contract matches " + q; return; }
      answer.data.forEach((c) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "small";
        button.dataset.choose = JSON.stringify({ symbol: c.symbol, exchange: c.exchange, conid: c.conid });
        button.textContent = c.symbol + ": " + c.name + " (" + c.exchange + ", " + c.currency + ", conid " + c.conid + ")";
        item.appendChild(button);
        results.appendChild(item);
      });
    }

    function choose(button) {
      const c = JSON.parse(button.dataset.choose);
      form.querySelector('[data-doc="symbol"]').value = c.symbol;
      form.querySelector('[data-doc="exchange"]').value = c.exchange;
      form.querySelector('[data-doc="conid"]').value = String(c.conid);
      form.querySelector("[data-symbol-chosen]").textContent = c.symbol + " on " + c.exchange + " (conid " + c.conid + ")";
      form.querySelector("[data-symbol-results]").textContent = "";
      form.querySelector('[data-doc="symbol"]').focus();
    }

    form.addEventListener("click", (event) => {
      const target = event.target.closest("button");
      if (!target) return;
      if (target.matches("[data-wizard-next]")) { event.preventDefault(); goNext(); }
      else if (target.matches("[data-wizard-back]")) { event.preventDefault(); clearErrors(form); show(current - 1); }
      else if (target.matches("[data-add-indicator]")) addIndicator();
      else if (target.matches("[data-remove-indicator]")) {
        target.closest("[data-indicator-row]").remove();
        form.querySelector("[data-add-indicator]").focus();
      } else if (target.matches("[data-symbol-search]")) searchSymbols();
      else if (target.matches("[data-choose]")) choose(target);
    });
    form.addEventListener("change", (event) => {
      if (event.target.matches('[data-ind="source"]')) changeSource(event.target);
    });
    form.addEventListener("input", (event) => {
      if (event.target.matches('[data-doc="symbol"]')) {
        form.querySelector('[data-doc="exchange"]').value = "";
        form.querySelector('[data-doc="conid"]').value = "";
        form.querySelector("[data-symbol-chosen]").textContent = "";
      }
      if (event.target.matches("[data-preview]")) {
        window.clearTimeout(timer);
        timer = window.setTimeout(preview, 300);
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (current < LAST) goNext(); else submit();
    });
    show(1, false);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("wizard");
    if (form) start(form);
  });
})();
