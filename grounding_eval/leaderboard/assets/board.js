// Sort any table by a click on its header, and filter every table by backbone and model family.
// It reads only the DOM (data-sort on cells, data-backbone / data-family on rows): the page embeds no data
// in this script, so nothing a submission wrote can end up inside it.
(function () {
  "use strict";
  function sortTable(th) {
    var table = th.closest("table");
    var col = Number(th.getAttribute("data-col"));
    var numeric = th.getAttribute("data-kind") === "num";
    var dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;  // first click: high to low
    if (!numeric && !th.hasAttribute("aria-sort")) { dir = 1; }        // names: A to Z first
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-sort"), y = b.cells[col].getAttribute("data-sort");
      var c = numeric ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
      return dir * c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.board th").forEach(function (th) {
    th.addEventListener("click", function () { sortTable(th); });
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortTable(th); } });
  });
  function applyFilters() {
    var bb = document.getElementById("filter-backbone").value;
    var fam = document.getElementById("filter-family").value;
    document.querySelectorAll("table.board tbody tr, figure.sweep").forEach(function (tr) {
      var show = (!bb || tr.getAttribute("data-backbone") === bb) && (!fam || tr.getAttribute("data-family") === fam);
      tr.hidden = !show;
    });
  }
  ["filter-backbone", "filter-family"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", applyFilters);
  });
})();
