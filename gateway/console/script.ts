/**
 * The console's only script (served same-origin, CSP `script-src 'self'`):
 * progressive enhancement on top of pages that work without it — live
 * regions refreshed in place, copy buttons, the template editor's live
 * diagnostics, and toasts when a customer completes or declines.
 */
export const SCRIPT = `"use strict";
(function () {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  // Live regions: re-fetch this page and swap every [data-live] element with the same id.
  var live = document.querySelectorAll("[data-live][id]");
  if (live.length) {
    setInterval(function () {
      if (document.visibilityState !== "visible") return;
      fetch(location.href, { headers: { "x-console-live": "1" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) return;
          var doc = new DOMParser().parseFromString(text, "text/html");
          document.querySelectorAll("[data-live][id]").forEach(function (el) {
            var fresh = doc.getElementById(el.id);
            if (fresh && fresh.innerHTML !== el.innerHTML) el.innerHTML = fresh.innerHTML;
          });
        })
        .catch(function () {});
    }, 2000);
  }

  // Copy buttons next to read-only values.
  document.querySelectorAll("input[data-copy]").forEach(function (input) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = "Copy to clipboard";
    b.addEventListener("click", function () {
      input.select();
      var done = function () { b.textContent = "Copied"; };
      if (navigator.clipboard) navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      else { document.execCommand("copy"); done(); }
    });
    input.insertAdjacentElement("afterend", b);
  });

  // Template editor: diagnostics and diagram as you type (debounced).
  var source = document.querySelector("textarea[data-check]");
  if (source) {
    var timer = 0;
    var seq = 0;
    var check = function () {
      var mine = ++seq;
      fetch("/console/api/templates/check", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ source: source.value }),
      })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (mine !== seq) return;
          var d = document.getElementById("diagnostics");
          if (d) {
            d.textContent = j.text || "No problems found.";
            d.setAttribute("data-errors", String(j.errors));
          }
          var s = document.getElementById("diag-summary");
          if (s) s.textContent = j.summary;
          var g = document.getElementById("graph");
          if (g && j.graph) g.textContent = j.graph;
          source.setAttribute("aria-invalid", j.errors > 0 ? "true" : "false");
        })
        .catch(function () {});
    };
    source.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 300);
    });
  }

  // Toasts for customers completing or declining.
  var toasts = document.getElementById("toasts");
  if (toasts && csrf) {
    var cursor = "";
    var poll = function () {
      fetch("/console/api/notifications?after=" + encodeURIComponent(cursor), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j) return;
          var first = cursor === "";
          cursor = j.cursor || cursor;
          if (first) return;
          (j.items || []).forEach(function (it) {
            var t = document.createElement("div");
            t.className = "toast";
            var a = document.createElement("a");
            a.href = it.href;
            a.textContent = it.text;
            a.style && (a.className = "toast-link");
            t.appendChild(a);
            toasts.appendChild(t);
            setTimeout(function () { t.remove(); }, 15000);
          });
        })
        .catch(function () {});
    };
    poll();
    setInterval(poll, 4000);
  }
})();
`;
