// The decisions page's live tail: new decisions arrive as server-sent
// events and are put at the top of the "Live" table. Text only (textContent),
// never markup from the server.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var rows = document.getElementById("tail-rows");
  var status = document.getElementById("tail-status");
  var count = document.getElementById("tail-count");
  var es = new EventSource(live.getAttribute("data-src"));
  es.addEventListener("open", function () {
    status.textContent = "live";
    live.classList.add("connected");
  });
  es.addEventListener("error", function () {
    status.textContent = "reconnecting…";
    live.classList.remove("connected");
  });
  es.addEventListener("gap", function () {
    status.textContent = "some decisions were missed: reload the page to see them all";
  });
  es.addEventListener("row", function (ev) {
    var r = JSON.parse(ev.data);
    var tr = document.createElement("tr");
    tr.className = r.decision;
    function cell(text, href) {
      var td = document.createElement("td");
      if (href) {
        var a = document.createElement("a");
        a.setAttribute("href", href);
        a.textContent = text;
        td.appendChild(a);
      } else {
        td.textContent = text;
      }
      tr.appendChild(td);
    }
    cell(r.time);
    cell(r.instance + "/" + r.seq, r.url.indexOf("/console/") === 0 ? r.url : null);
    cell(r.subject); cell(r.entity); cell(r.country); cell(r.model); cell(r.file); cell(r.decision); cell(r.code);
    rows.insertBefore(tr, rows.firstChild);
    while (rows.rows.length > 200) { rows.deleteRow(rows.rows.length - 1); }
    count.textContent = String(Number(count.textContent) + 1);
  });
})();
