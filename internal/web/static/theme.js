// The theme chosen on this browser (auto follows the system), applied
// before the page is drawn; the sidebar's button cycles it.
(function () {
  "use strict";
  var root = document.documentElement, order = ["auto", "light", "dark"];
  function apply(t) {
    if (t === "auto") root.removeAttribute("data-theme"); else root.dataset.theme = t;
    var b = document.getElementById("theme");
    if (b) b.textContent = "Theme: " + t;
  }
  var cur = "auto";
  try { cur = localStorage.getItem("dbackup-theme") || "auto"; } catch (e) {}
  apply(cur);
  document.addEventListener("DOMContentLoaded", function () {
    apply(cur);
    var b = document.getElementById("theme");
    if (b) b.addEventListener("click", function () {
      cur = order[(order.indexOf(cur) + 1) % order.length];
      try { localStorage.setItem("dbackup-theme", cur); } catch (e) {}
      apply(cur);
    });
  });
})();
