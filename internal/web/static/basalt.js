// Basalt web UI: small progressive enhancements. Every page works without
// this script; it only adds the log level filter.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var tools = document.querySelector("[data-log-tools]");
  var log = document.querySelector("[data-log]");
  if (!tools || !log) {
    return;
  }
  tools.hidden = false;
  tools.addEventListener("change", function (ev) {
    var box = ev.target;
    if (box && box.dataset && box.dataset.level) {
      log.classList.toggle("hide-" + box.dataset.level, !box.checked);
    }
  });
});
