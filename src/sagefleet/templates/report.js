(function () {
  "use strict";
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  var table = document.getElementById("hosts");
  if (!table || !table.tHead || !table.tBodies.length) { return; }

  // Sort the host table by a header click (or Enter/Space on a focused header).
  var headers = table.tHead.rows[0].cells;
  function key(cell) {
    var value = cell.getAttribute("data-sort");
    return value === null ? cell.textContent.trim() : value;
  }
  function sortBy(th, col) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    each(headers, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var numeric = th.getAttribute("data-type") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      var r = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
      return ascending ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  each(headers, function (th, col) {
    th.addEventListener("click", function () { sortBy(th, col); });
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(th, col); }
    });
  });

  // Filters: host name, host status, check id (failed or unknown on the host), and
  // the passed / not applicable checks, hidden until asked. The state lives in the
  // URL's fragment (#status=blocked&check=SF101), so a filtered view can be linked.
  var filters = document.getElementById("filters");
  var hostInput = document.getElementById("f-host");
  var statusSelect = document.getElementById("f-status");
  var checkSelect = document.getElementById("f-check");
  var quietBox = document.getElementById("f-quiet");
  var clear = document.getElementById("f-clear");
  var count = document.getElementById("f-count");
  if (!filters || !hostInput || !statusSelect || !checkSelect || !quietBox || !count) { return; }
  filters.hidden = false;
  var blocks = {};
  each(document.querySelectorAll("#findings > details[data-i]"), function (d) {
    blocks[d.getAttribute("data-i")] = d;
  });
  var dataNode = document.getElementById("quiet-data");
  var quiet = dataNode ? JSON.parse(dataNode.textContent) : { strings: [], rows: [], hosts: [] };
  var rendered = {};

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) { td.className = className; }
    row.appendChild(td);
    return td;
  }
  function renderQuiet(index) {
    if (rendered[index]) { return; }
    rendered[index] = true;
    var block = blocks[index];
    var ids = quiet.hosts[Number(index)] || [];
    var body = block ? block.querySelector("table.findings tbody") : null;
    if (!body) { return; }
    block.open = true;  // asked for: a ready host's block starts closed
    var s = quiet.strings;
    ids.forEach(function (id) {
      var r = quiet.rows[id];
      var tr = document.createElement("tr");
      tr.className = "quiet fs-" + s[r[2]];
      cell(tr, s[r[0]]);
      cell(tr, s[r[1]], "sev");
      cell(tr, s[r[3]]);
      cell(tr, s[r[4]]);
      cell(tr, s[r[5]]);
      var message = cell(tr, s[r[6]]);
      if (s[r[7]]) {
        var code = document.createElement("code");
        code.textContent = s[r[7]];
        message.appendChild(document.createElement("br"));
        message.appendChild(code);
      }
      cell(tr, "", "remediation");
      body.appendChild(tr);
    });
  }

  function apply() {
    var text = hostInput.value.trim().toLowerCase();
    var status = statusSelect.value;
    var check = checkSelect.value;
    var showQuiet = quietBox.checked;
    document.body.classList.toggle("show-quiet", showQuiet);
    var shown = 0;
    each(table.tBodies[0].rows, function (tr) {
      var index = tr.getAttribute("data-i");
      var ok = (!text || tr.getAttribute("data-host").toLowerCase().indexOf(text) !== -1) &&
        (!status || tr.getAttribute("data-status") === status) &&
        (!check || (" " + tr.getAttribute("data-checks") + " ").indexOf(" " + check + " ") !== -1);
      tr.hidden = !ok;
      var block = blocks[index];
      if (block) { block.hidden = !ok; }
      if (ok) {
        shown += 1;
        if (showQuiet) { renderQuiet(index); }
      }
    });
    count.textContent = count.getAttribute("data-text")
      .replace("{shown}", String(shown)).replace("{total}", count.getAttribute("data-total"));
  }

  function state() {
    var parts = [];
    if (hostInput.value.trim()) { parts.push("host=" + encodeURIComponent(hostInput.value.trim())); }
    if (statusSelect.value) { parts.push("status=" + encodeURIComponent(statusSelect.value)); }
    if (checkSelect.value) { parts.push("check=" + encodeURIComponent(checkSelect.value)); }
    if (quietBox.checked) { parts.push("quiet=1"); }
    return parts.join("&");
  }
  function select(node, value) {
    node.value = value;
    if (node.value !== value) { node.value = ""; }  // not an option of this report
  }
  function load(fragment) {
    var values = {};
    fragment.replace(/^#/, "").split("&").forEach(function (pair) {
      var at = pair.indexOf("=");
      if (at > 0) {
        try { values[pair.slice(0, at)] = decodeURIComponent(pair.slice(at + 1)); } catch (e) { /* ignore */ }
      }
    });
    hostInput.value = values.host || "";
    select(statusSelect, values.status || "");
    select(checkSelect, values.check || "");
    quietBox.checked = values.quiet === "1";
  }
  function isState(fragment) { return fragment.indexOf("=") !== -1; }
  function remember() {
    try { history.replaceState(null, "", "#" + state()); } catch (e) { /* file:// in old browsers */ }
  }
  function changed() { apply(); remember(); }

  hostInput.addEventListener("input", changed);
  statusSelect.addEventListener("change", changed);
  checkSelect.addEventListener("change", changed);
  quietBox.addEventListener("change", changed);
  if (clear) {
    clear.addEventListener("click", function () { load(""); changed(); });
  }
  // Links of the summary (a check, a status total) filter the host table and go to it.
  each(document.querySelectorAll("a[href^='#']"), function (link) {
    var target = link.getAttribute("href");
    if (!isState(target)) { return; }
    link.addEventListener("click", function (event) {
      event.preventDefault();
      load(target);
      changed();
      document.getElementById("hosts-title").scrollIntoView();
    });
  });
  window.addEventListener("hashchange", function () {
    if (isState(location.hash)) { load(location.hash); apply(); }
  });
  if (isState(location.hash)) { load(location.hash); }
  apply();
})();
