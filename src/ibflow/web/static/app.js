// ibflow pages: writes go to the JSON API (session cookie + CSRF header), live parts reload on stream events.
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function flash(text, kind) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = "";
    const line = document.createElement("p");
    line.className = "flash-" + kind;
    line.textContent = text;
    box.appendChild(line);
  }

  function refresh() {
    if (window.htmx) window.htmx.trigger(document.body, "ibflow:refresh");
  }

  function problemText(problem, fallback) {
    if (!problem || typeof problem !== "object") return fallback;
    return problem.detail || problem.title || fallback;
  }

  // A 422's field errors go next to their fields: each error's `field` (the API's name, e.g. "params.period")
  // names an element data-error-for="FIELD"; the input named FIELD gets aria-invalid and the first one focus.
  // Messages naming no field of the form (a template's "line 3", say) and a problem without fields go to the
  // form's [data-error-other], if it has one.
  function showFieldErrors(form, problem) {
    form.querySelectorAll("[data-error-for], [data-error-other]").forEach((el) => { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((el) => { el.removeAttribute("aria-invalid"); });
    if (!problem) return false;
    const fields = problem.fields || problem.errors || {};
    const items = Array.isArray(fields)
      ? fields.map((item) => [item.field || (item.loc && item.loc[item.loc.length - 1]), item.problem || item.message || ""])
      : Object.keys(fields).map((name) => [name, String(fields[name])]);
    const found = [];
    const rest = [];
    items.forEach(([name, text]) => {
      const el = name ? form.querySelector('[data-error-for="' + CSS.escape(name) + '"]') : null;
      if (!el) { rest.push(name ? name + ": " + text : text); return; }
      el.textContent = text;
      const input = form.querySelector('[name="' + CSS.escape(name) + '"]');
      if (input) { input.setAttribute("aria-invalid", "true"); found.push(input); }
      if (!found.length) found.push(el);
    });
    const other = form.querySelector("[data-error-other]");
    if (other && (rest.length || !found.length)) {
      other.textContent = rest.length ? rest.join("\n") : problemText(problem, "");
      if (other.textContent) found.push(other);
    }
    const first = found.find((el) => typeof el.focus === "function" && el.matches("input, select, textarea"));
    if (first) first.focus();
    return found.length > 0;
  }

  // A form's fields as the JSON body: a field named "a.b" goes to {"a": {"b": ...}}; a number input sends a
  // number (left out when empty), every other field its text (left out when empty with data-omit-empty).
  function formBody(form) {
    const body = {};
    Array.from(form.elements).forEach((input) => {
      if (!input.name || input.disabled || (input.type === "checkbox" && !input.checked)) return;
      let value = input.value;
      if ("omitEmpty" in input.dataset && value.trim() === "") return;
      if (input.type === "number") {
        if (value.trim() === "") return;
        value = Number(value);
      }
      const path = input.name.split(".");
      let target = body;
      path.slice(0, -1).forEach((part) => {
        if (typeof target[part] !== "object" || target[part] === null) target[part] = {};
        target = target[part];
      });
      target[path[path.length - 1]] = value;
    });
    return body;
  }

  // An answer's fields shown as text in the form's result area: data-result="ID" names the element, whose
  // [data-result-for="KEY"] children get the answer's KEY (textContent: what an API returns is never HTML).
  // A list answer fills a list element: one <li> per item, its text data-item with each {key} replaced by the
  // item's key (data-empty when the list is empty); an <input> gets the value; true and false read yes and no.
  function shown(value) {
    if (value === undefined || value === null) return "";
    if (typeof value === "boolean") return value ? "yes" : "no";
    return String(value);
  }

  function showResult(form, data) {
    const box = document.getElementById(form.dataset.result);
    if (!box) return;
    box.querySelectorAll("[data-result-for]").forEach((el) => {
      const value = data && typeof data === "object" ? data[el.dataset.resultFor] : undefined;
      if (Array.isArray(value) && el.dataset.item !== undefined) {
        el.textContent = "";
        value.forEach((item) => {
          const li = document.createElement("li");
          li.textContent = el.dataset.item.replace(/\{([a-z_]+)\}/g, (whole, key) => shown(item && item[key]));
          el.appendChild(li);
        });
        if (!value.length && el.dataset.empty) {
          const li = document.createElement("li");
          li.textContent = el.dataset.empty;
          el.appendChild(li);
        }
      } else if (el.matches("input, textarea")) {
        el.value = shown(value);
      } else {
        el.textContent = shown(value);
      }
    });
    box.hidden = false;
  }

  // data-then: load that page; the same page with another #fragment is reloaded (assign would only scroll).
  function go(target) {
    const next = new URL(target, window.location.href);
    const here = new URL(window.location.href);
    if (next.pathname !== here.pathname || next.search !== here.search) { window.location.assign(next.href); return; }
    window.location.hash = next.hash;
    window.location.reload();
  }

  async function send(method, url, body, withCsrf) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (withCsrf) headers["X-CSRF-Token"] = csrf();
    const answer = await fetch(url, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await answer.json(); } catch (e) { data = null; }
    return { ok: answer.ok, status: answer.status, data: data };
  }

  async function act(el, body, form) {
    if (el.dataset.confirm && !window.confirm(el.dataset.confirm)) return;
    const url = el.dataset.action || el.dataset.post;
    const button = form ? form.querySelector('[type="submit"]') : el;
    if (button) button.disabled = true;
    try {
      const answer = await send(el.dataset.method || "POST", url, body, !("noCsrf" in el.dataset));
      if (answer.status === 401 && !("noCsrf" in el.dataset)) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
        return;
      }
      if (!answer.ok) {
        const stale = form && form.dataset.result ? document.getElementById(form.dataset.result) : null;
        if (stale) stale.hidden = true;
        const shown = form ? showFieldErrors(form, answer.data) : false;
        flash(problemText(answer.data, "the request failed (" + answer.status + ")") + (shown ? " (see the fields)" : ""), "error");
        if ("refreshAnyway" in el.dataset) refresh();  // the portfolio's Refresh re-reads ibflow's figures still
        return;
      }
      if (form) showFieldErrors(form, null);
      if (el.dataset.then) { go(el.dataset.then); return; }
      if (form && form.dataset.result) {
        showResult(form, answer.data);
        flash(el.dataset.done || "Done.", "ok");
        // data-close: a dialog's form closes once answered; data-refresh: the live parts reload too
        const within = "close" in form.dataset ? form.closest("dialog") : null;
        if (within) { within.close(); form.reset(); }
        if ("refresh" in form.dataset) refresh();
        return;
      }
      // data-done-from-answer: the API's one-line "message" says what happened (a sync: what changed)
      const said = "doneFromAnswer" in el.dataset && answer.data && typeof answer.data.message === "string";
      const partly = said && answer.data.complete === false;  // an account not (fully) synced: not a success
      flash(said ? answer.data.message : (el.dataset.done || "Done."), partly ? "warn" : "ok");
      const dialog = el.closest("dialog");
      if (dialog) dialog.close();
      const details = el.closest("details");
      if (details) details.open = false;
      if (form) form.reset();
      refresh();
    } catch (error) {
      flash("ibflow did not answer: " + error, "error");
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-action]");
    if (!form) return;
    event.preventDefault();
    const body = formBody(form);
    // data-with="ID ...": fields outside the form that join its body (one editor, several forms)
    (form.dataset.with || "").split(" ").filter(Boolean).forEach((id) => {
      const field = document.getElementById(id);
      if (field && field.name) body[field.name] = field.value;
    });
    act(form, body, form);
  });

  document.addEventListener("click", (event) => {
    const post = event.target.closest("[data-post]");
    if (post) { event.preventDefault(); act(post, undefined, null); return; }
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog) dialog.showModal();
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) { closer.closest("dialog").close(); return; }
    const menu = event.target.closest("[data-toggle-menu]");
    if (menu) {
      const open = document.body.classList.toggle("menu-open");
      menu.setAttribute("aria-expanded", String(open));
      return;
    }
    const theme = event.target.closest("[data-toggle-theme]");
    if (theme) {
      const order = ["auto", "light", "dark"];
      const now = document.documentElement.dataset.theme || "auto";
      const next = order[(order.indexOf(now) + 1) % order.length];
      setTheme(next);
    }
  });

  function setTheme(name) {
    document.documentElement.dataset.theme = name;
    try { window.localStorage.setItem("ibflow-theme", name); } catch (e) { /* private mode */ }
    document.querySelectorAll("[data-toggle-theme]").forEach((el) => { el.textContent = "Theme: " + name; });
  }

  // A live part does not reload under the user's hands: not while focus is in it or an edit form
  // (<details>) in it is open; it reloads with the next refresh after that.
  document.addEventListener("htmx:configRequest", (event) => {
    const trigger = event.detail.triggeringEvent;
    if (!trigger || trigger.type !== "ibflow:refresh") return;
    const part = event.detail.elt;
    const active = document.activeElement;
    const typing = active && part.contains(active) && active.matches("input, select, textarea");
    if (typing || part.querySelector("details[open]")) event.preventDefault();
  });

  // A fragment that answers 4xx with HTML explains the problem (a preview of an unknown symbol, say): swap it
  // in as any answer; 4xx without HTML and 5xx stay errors.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    const html = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") === 0;
    if (xhr.status >= 400 && xhr.status < 500 && html) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Recently opened contracts, on this device only: a page with [data-remember-symbol] adds its contract,
  // a [data-recent-symbols] list shows them (newest first), as text.
  const RECENT_KEY = "ibflow-recent-symbols";
  const RECENT_MAX = 8;

  function recentSymbols() {
    try {
      const saved = JSON.parse(window.localStorage.getItem(RECENT_KEY) || "[]");
      return Array.isArray(saved) ? saved.filter((item) => item && /^[0-9]{1,18}$/.test(String(item.conid))) : [];
    } catch (e) { return []; }
  }

  function rememberSymbol(el) {
    const item = { conid: String(el.dataset.conid), symbol: el.dataset.symbol || "", name: el.dataset.name || "" };
    const list = [item].concat(recentSymbols().filter((other) => String(other.conid) !== item.conid));
    try { window.localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX))); } catch (e) { /* private mode */ }
  }

  function showRecentSymbols(list) {
    const items = recentSymbols();
    items.forEach((item) => {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/symbols/" + encodeURIComponent(item.conid);
      const strong = document.createElement("strong");
      strong.textContent = String(item.symbol);
      link.appendChild(strong);
      li.appendChild(link);
      li.appendChild(document.createTextNode(" " + String(item.name)));
      list.appendChild(li);
    });
    const empty = document.querySelector("[data-recent-empty]");
    if (empty && items.length) empty.hidden = true;
  }

  // A fragment that answers HX-Redirect (the session ended) sends the page to the login; htmx does it.
  document.addEventListener("DOMContentLoaded", () => {
    let saved = "auto";
    try { saved = window.localStorage.getItem("ibflow-theme") || "auto"; } catch (e) { saved = "auto"; }
    setTheme(saved);
    document.querySelectorAll("[data-remember-symbol]").forEach(rememberSymbol);
    document.querySelectorAll("[data-recent-symbols]").forEach(showRecentSymbols);
    const kinds = (document.body.dataset.events || "").split(" ").filter(Boolean);
    if (!kinds.length || !window.EventSource) return;
    let timer = null;
    const soon = () => { if (timer) return; timer = window.setTimeout(() => { timer = null; refresh(); }, 250); };
    const stream = new EventSource("/api/v1/events");
    kinds.forEach((kind) => stream.addEventListener(kind, soon));
    window.addEventListener("pagehide", () => stream.close());
  });
})();
