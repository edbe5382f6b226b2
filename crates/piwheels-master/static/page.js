// Fills in when the page was last updated, from its Last-Modified time: pages carry
// no write-time stamp (an unchanged page is not written again), so the file's time is
// when its contents last changed. Shown in UTC, like every time on the site.
(function () {
  "use strict";
  var el = document.querySelector("time.last-updated");
  var when = new Date(document.lastModified);
  if (!el || isNaN(when.getTime())) { return; }
  var iso = when.toISOString();
  el.setAttribute("datetime", iso);
  el.textContent = iso.slice(0, 10) + " " + iso.slice(11, 16) + " UTC";
})();
