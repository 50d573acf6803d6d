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

  // Each field's message goes next to it ([data-error-for="FIELD"]); messages naming no field of the form
  // (a template's "line 3", say) and a problem without fields go to the form's [data-error-other], if any.
  function showFieldErrors(form, problem) {
    form.querySelectorAll("[data-error-for], [data-error-other]").forEach((el) => { el.textContent = ""; });
    if (!problem) return false;
    const fields = problem.fields || problem.errors || {};
    const items = Array.isArray(fields)
      ? fields.map((item) => [item.field || (item.loc && item.loc[item.loc.length - 1]), item.problem || item.message || ""])
      : Object.keys(fields).map((name) => [name, String(fields[name])]);
    const other = form.querySelector("[data-error-other]");
    const rest = [];
    let shown = false;
    items.forEach(([name, text]) => {
      const el = form.querySelector('[data-error-for="' + name + '"]');
      if (el) { el.textContent = text; shown = true; } else { rest.push(name ? name + ": " + text : text); }
    });
    if (other && (rest.length || !shown)) {
      other.textContent = rest.length ? rest.join("\n") : problemText(problem, "");
      shown = shown || Boolean(other.textContent);
    }
    return shown;
  }

  // An answer's fields shown as text in the form's result area: data-result="ID" names the element, whose
  // [data-result-for="KEY"] children get the answer's KEY (textContent: what an API returns is never HTML).
  function showResult(form, data) {
    const box = document.getElementById(form.dataset.result);
    if (!box) return;
    box.querySelectorAll("[data-result-for]").forEach((el) => {
      const value = data && typeof data === "object" ? data[el.dataset.resultFor] : undefined;
      el.textContent = value === undefined || value === null ? "" : String(value);
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
        return;
      }
      if (form) showFieldErrors(form, null);
      if (el.dataset.then) { go(el.dataset.then); return; }
      if (form && form.dataset.result) { showResult(form, answer.data); flash(el.dataset.done || "Done.", "ok"); return; }
      flash(el.dataset.done || "Done.", "ok");
      const dialog = el.closest("dialog");
      if (dialog) dialog.close();
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
    const body = {};
    new FormData(form).forEach((value, key) => { body[key] = value; });
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

  // A fragment that answers HX-Redirect (the session ended) sends the page to the login; htmx does it.
  document.addEventListener("DOMContentLoaded", () => {
    let saved = "auto";
    try { saved = window.localStorage.getItem("ibflow-theme") || "auto"; } catch (e) { saved = "auto"; }
    setTheme(saved);
    const kinds = (document.body.dataset.events || "").split(" ").filter(Boolean);
    if (!kinds.length || !window.EventSource) return;
    let timer = null;
    const soon = () => { if (timer) return; timer = window.setTimeout(() => { timer = null; refresh(); }, 250); };
    const stream = new EventSource("/api/v1/events");
    kinds.forEach((kind) => stream.addEventListener(kind, soon));
    window.addEventListener("pagehide", () => stream.close());
  });
})();
