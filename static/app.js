// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";
  // Changing the page size or status applies the filters at once.
  document.querySelectorAll("form.filters select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });
  // "/" focuses the search box, as in most table tools.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var search = document.querySelector("form.filters input[type=search]");
    if (search) { event.preventDefault(); search.focus(); }
  });
  // The dashboard's panel refreshes itself and tells screen readers, politely, what changed.
  var live = document.getElementById("dashboard-live");
  var announcer = document.getElementById("dashboard-announcer");
  if (live && announcer && window.fetch) {
    var seconds = parseInt(live.getAttribute("data-refresh-seconds"), 10) || 30;
    var url = live.getAttribute("data-refresh-url");
    var refresh = function () {
      fetch(url, { credentials: "same-origin", headers: { "X-Background-Refresh": "1" } })
        .then(function (response) {
          // A redirect means the session ended: leave the page as it is.
          return response.ok && !response.redirected ? response.text() : null;
        })
        .then(function (html) {
          if (!html) return;
          var before = live.querySelector(".dashboard-panel");
          var template = document.createElement("template");
          template.innerHTML = html.trim();
          var after = template.content.querySelector(".dashboard-panel");
          if (!after) return;
          // A table the reader opened under a chart stays open.
          if (before) {
            var opened = before.querySelectorAll("details");
            after.querySelectorAll("details").forEach(function (details, i) {
              if (opened[i]) details.open = opened[i].open;
            });
          }
          if (before && before.outerHTML === after.outerHTML) return;
          var summary = after.getAttribute("data-summary");
          live.replaceChildren(after);
          if (!before || before.getAttribute("data-summary") !== summary) announcer.textContent = "Updated: " + summary;
        })
        .catch(function () { /* try again at the next tick */ });
    };
    window.setInterval(refresh, seconds * 1000);
  }
})();
