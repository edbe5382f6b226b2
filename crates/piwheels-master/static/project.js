// Project pages: fills in the download counts from /packages.json.
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
          document.querySelector(".downloads-recent").textContent = rows[i][1];
          document.querySelector(".downloads-all").textContent = rows[i][2];
          return;
        }
      }
    })
    .catch(function () {});
})();
