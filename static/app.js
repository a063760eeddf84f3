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
})();
