// Project pages: the scribe writes the download counts into the page; this refreshes them
// from /packages.json (rewritten hourly), with the same thousands separators.
(function () {
  "use strict";
  var article = document.querySelector("article.project");
  if (!article) { return; }
  var name = article.getAttribute("data-package");
  fetch("/packages.json")
    .then(function (r) { return r.json(); })
    .then(function (rows) {
      for (var i = 0; i < rows.length; i++) {
        if (rows[i][0] === name) {
          document.querySelector(".downloads-recent").textContent = Number(rows[i][1]).toLocaleString("en-US");
          document.querySelector(".downloads-all").textContent = Number(rows[i][2]).toLocaleString("en-US");
          return;
        }
      }
    })
    .catch(function () {});
})();
