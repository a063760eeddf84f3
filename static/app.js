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
  // Forms with files post through XMLHttpRequest where the browser has it, to show the upload's
  // progress; the answer (the ticket's page, or the form with its messages) then replaces the
  // page as a normal post would. A refusal (a file too large) is told beside the form.
  var enhanceUploads = function (root) {
    root.querySelectorAll("form[data-upload]").forEach(function (form) {
      var input = form.querySelector("input[type=file]");
      var bar = form.querySelector(".upload-progress");
      var status = form.querySelector(".upload-status");
      var button = form.querySelector("button[type=submit]");
      if (!input || !bar || !status || !window.XMLHttpRequest || !window.FormData || !window.DOMParser) return;
      form.addEventListener("submit", function (event) {
        if (!input.files || input.files.length === 0) return;
        event.preventDefault();
        var request = new XMLHttpRequest();
        request.open("POST", form.action);
        request.upload.addEventListener("progress", function (progress) {
          if (!progress.lengthComputable) return;
          var percent = Math.floor(100 * progress.loaded / progress.total);
          bar.hidden = false;
          bar.value = percent;
          status.textContent = "Uploading: " + percent + "%";
        });
        var failed = function (message) {
          bar.hidden = true;
          status.setAttribute("role", "alert");
          status.classList.add("form-error");
          status.textContent = message;
          if (button) button.disabled = false;
        };
        request.addEventListener("load", function () {
          var page = new DOMParser().parseFromString(request.responseText, "text/html");
          var error = page.querySelector(".error-page");
          if (error || !page.body) {
            var message = error && error.querySelector("h1 + p");
            failed(message ? message.textContent : "The upload failed (error " + request.status + ").");
            return;
          }
          if (request.status < 400 && request.responseURL) window.history.replaceState(null, "", request.responseURL);
          document.title = page.title;
          document.body.replaceWith(document.adoptNode(page.body));
          enhanceUploads(document);
          window.scrollTo(0, 0);
        });
        request.addEventListener("error", function () {
          failed("The upload did not get through. Check your connection and try again.");
        });
        if (button) button.disabled = true;
        status.removeAttribute("role");
        status.classList.remove("form-error");
        status.textContent = "Uploading…";
        var data = new FormData(form);
        // A file the browser calls multipart/… (a saved .mhtml page) goes as plain bytes: the
        // server cannot tell such a part from a nested form.
        data.getAll(input.name).forEach(function (file, i, all) {
          if (i === 0) data.delete(input.name);
          var plain = file.type.indexOf("multipart/") === 0 ? new File([file], file.name, { type: "application/octet-stream" }) : file;
          data.append(input.name, plain, file.name);
        });
        request.send(data);
      });
    });
  };
  enhanceUploads(document);
})();
