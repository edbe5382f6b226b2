// Package search: filters /packages.json ([name, downloads_30_days, downloads_all,
// summary]) by the text typed: the package of exactly that (canonical) name first, then
// the others most downloaded first (30 days, then ever, then by name, as the scribe writes
// the file). The summary is text, never markup.
(function () {
  "use strict";
  var input = document.getElementById("q");
  var status = document.getElementById("status");
  var body = document.querySelector("#results tbody");
  var packages = [];

  function show() {
    var q = input.value.trim().toLowerCase().replace(/[-_.]+/g, "-");
    var hits = q ? packages.filter(function (p) { return p[0].indexOf(q) !== -1; }) : packages;
    var exact = hits.findIndex(function (p) { return p[0] === q; });
    if (exact > 0) { hits = [hits[exact]].concat(hits.slice(0, exact), hits.slice(exact + 1)); }
    body.textContent = "";
    hits.slice(0, 100).forEach(function (p) {
      var tr = document.createElement("tr");
      var a = document.createElement("a");
      a.href = "/project/" + encodeURIComponent(p[0]) + "/";
      a.textContent = p[0];
      [a, Number(p[1]).toLocaleString("en-US"), Number(p[2]).toLocaleString("en-US"),
       typeof p[3] === "string" ? p[3] : ""].forEach(function (v) {
        var td = document.createElement("td");
        if (typeof v === "string") { td.textContent = v; } else { td.appendChild(v); }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    status.textContent = hits.length + " package" + (hits.length === 1 ? "" : "s") +
      (hits.length > 100 ? " (showing 100)" : "");
  }

  var params = new URLSearchParams(window.location.search);
  if (params.get("q")) { input.value = params.get("q"); }
  input.addEventListener("input", show);
  fetch("/packages.json")
    .then(function (r) { return r.json(); })
    .then(function (rows) {
      packages = rows.slice().sort(function (a, b) {
        return b[1] - a[1] || b[2] - a[2] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
      });
      show();
    })
    .catch(function () { status.textContent = "The package list could not be loaded."; });
})();
