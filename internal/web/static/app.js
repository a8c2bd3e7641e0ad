// Forms that delete ask first.
document.addEventListener("submit", function (ev) {
  var msg = ev.target.dataset && ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

// Live execution view: Server-Sent Events update the status, the stages,
// the byte counts, the destinations and the log as the run goes.
(function () {
  "use strict";
  var sec = document.getElementById("execution");
  if (!sec || sec.dataset.done === "true" || !window.EventSource) return;
  var order = Array.prototype.map.call(document.querySelectorAll("ol.stages li"), function (li) { return li.dataset.stage; });
  var log = document.getElementById("log");
  var last = log.lastElementChild ? log.lastElementChild.dataset.seq : "0";
  var es = new EventSource("/executions/" + encodeURIComponent(sec.dataset.id) + "/events?after=" + last);
  function text(id, v) { var el = document.getElementById(id); if (el) el.textContent = v; }
  es.onmessage = function (ev) {
    var u = JSON.parse(ev.data);
    var st = document.getElementById("status");
    st.textContent = u.status; st.className = "badge " + u.status;
    text("dumped", u.bytes_dumped); text("stored", u.bytes_stored); text("error", u.error ? (u.explain ? u.explain + ". Details: " + u.error : u.error) : ""); text("rate", u.rate ? ", " + u.rate : "");
    var bar = document.getElementById("progress");
    if (bar) {
      if (u.done) bar.value = bar.max;
      else if (bar.max > 1) bar.value = Math.min(u.dumped, bar.max);
      bar.className = u.status;
    }
    var cur = order.indexOf(u.stage), finished = u.status === "success" || u.status === "partial";
    var broke = u.status === "failed" || u.status === "cancelled";
    document.querySelectorAll("ol.stages li").forEach(function (li, i) {
      li.className = cur < 0 ? "todo" : (i < cur || (finished && i <= cur)) ? "done" : i === cur ? (broke ? "failed" : "current") : "todo";
    });
    (u.logs || []).forEach(function (l) {
      var s = document.createElement("span");
      s.dataset.seq = l.seq; s.className = "lvl-" + l.level;
      s.textContent = l.at + " " + l.level + " [" + l.stage + "] " + l.message + "\n";
      log.appendChild(s);
    });
    if (u.logs && u.logs.length) log.scrollTop = log.scrollHeight;
    if (u.destinations) {
      var ul = document.getElementById("dests"); ul.textContent = "";
      u.destinations.forEach(function (d) {
        var li = document.createElement("li");
        li.textContent = d.name + ": " + d.status + (d.verified ? ", verified (" + d.verify_method + ")" : "") + (d.error ? " — " + d.error : "");
        ul.appendChild(li);
      });
    }
    if (u.done) {
      es.close(); sec.dataset.done = "true";
      var c = document.getElementById("cancel"); if (c) c.remove();
    }
  };
})();

// Job form: choosing another source checks it (connection, databases)
// without judging the rest of the form yet.
document.addEventListener("change", function (ev) {
  if (ev.target.matches && ev.target.matches("select[data-check]")) {
    var b = document.getElementById("check-source");
    if (b && ev.target.form.requestSubmit) ev.target.form.requestSubmit(b);
  }
});
