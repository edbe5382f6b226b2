// Runs static/packages.js (argv[2]) against a minimal DOM, with /packages.json answering
// argv[3] (JSON rows) and the query string ?q=argv[4]; prints the rows the page shows as
// JSON: [[name, 30 days, all time, summary], ...].
"use strict";
const fs = require("fs");
const vm = require("vm");
const [src, rows, q] = [fs.readFileSync(process.argv[2], "utf8"), JSON.parse(process.argv[3]), process.argv[4]];

function element(tag) {
  return {
    tag, children: [], href: "", _text: "",
    appendChild(c) { this.children.push(c); return c; },
    get textContent() { return this._text; },
    set textContent(v) { this._text = String(v); this.children = []; },
  };
}
const input = element("input");
input.value = "";
input.addEventListener = () => {};
const status = element("p");
const body = element("tbody");
const document = {
  getElementById: (id) => (id === "q" ? input : id === "status" ? status : null),
  querySelector: (sel) => (sel === "#results tbody" ? body : null),
  createElement: element,
};
const context = {
  document,
  window: { location: { search: "?q=" + encodeURIComponent(q) } },
  URLSearchParams,
  fetch: () => Promise.resolve({ json: () => Promise.resolve(rows) }),
};
vm.runInNewContext(src, context);
setTimeout(() => {
  const shown = body.children.map((tr) =>
    tr.children.map((td) => (td.children.length ? td.children[0].textContent : td.textContent)));
  process.stdout.write(JSON.stringify({ status: status.textContent, shown }));
}, 50);
