// Basalt web UI: small progressive enhancements. Every page works without
// this script. It follows running jobs and the lab overview live, through
// the server's Server-Sent Event streams (pushed, never polled).
"use strict";
(function () {
  var MAX_LINES = 5000; // lines kept in a followed log window

  function badge(span, text) {
    if (!span) {
      return;
    }
    span.textContent = text;
    span.className = "badge s-" + text.toLowerCase();
  }

  function lineItem(l) {
    var li = document.createElement("li");
    li.id = "L" + l.n;
    li.className = "lvl-" + l.l;
    var a = document.createElement("a");
    a.className = "ln";
    a.href = "#L" + l.n;
    a.textContent = String(l.n);
    li.appendChild(a);
    li.appendChild(document.createTextNode(" "));
    if (l.t) {
      var t = document.createElement("span");
      t.className = "t";
      t.textContent = l.t;
      li.appendChild(t);
      li.appendChild(document.createTextNode(" "));
    }
    var lv = document.createElement("span");
    lv.className = "lv";
    lv.textContent = l.l;
    li.appendChild(lv);
    li.appendChild(document.createTextNode(" "));
    var m = document.createElement("span");
    m.className = "m";
    m.textContent = l.m;
    li.appendChild(m);
    return li;
  }

  // atBottom says the reader is at the end of the page: keep following.
  function atBottom() {
    var el = document.scrollingElement || document.documentElement;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }

  function followJob(log) {
    var src = new EventSource(log.dataset.events);
    var follow = log.hasAttribute("data-follow");
    var only = log.dataset.levels ? log.dataset.levels.split(",") : null;
    var status = document.querySelector("[data-live-status]");
    var lead = document.querySelector("[data-job-state]");
    var badges = lead ? lead.querySelectorAll(".badge") : [];
    var missed = 0;
    if (status) {
      status.textContent = follow ? "Following the log live." : "";
    }
    src.addEventListener("state", function (ev) {
      var s = JSON.parse(ev.data);
      badge(badges[0], s.state);
      badge(badges[1], s.health);
    });
    src.addEventListener("lines", function (ev) {
      var lines = JSON.parse(ev.data);
      if (!follow) {
        missed += lines.length;
        if (status) {
          status.textContent = missed + " new lines: see the latest lines.";
        }
        return;
      }
      var stick = atBottom();
      var frag = document.createDocumentFragment();
      lines.forEach(function (l) {
        if (!only || only.indexOf(l.l) >= 0) {
          frag.appendChild(lineItem(l));
        }
      });
      log.appendChild(frag);
      while (log.children.length > MAX_LINES) {
        log.removeChild(log.firstElementChild);
      }
      if (stick) {
        window.scrollTo(0, document.body.scrollHeight);
      }
    });
    src.addEventListener("end", function (ev) {
      var s = JSON.parse(ev.data);
      badge(badges[0], s.state);
      badge(badges[1], s.health);
      src.close();
      if (status) {
        status.textContent = "The job finished (" + s.health + "). Reload the page for its results.";
      }
    });
  }

  function followOverview(lab) {
    var src = new EventSource(lab.dataset.events);
    src.addEventListener("lab", function (ev) {
      lab.innerHTML = ev.data; // HTML rendered and escaped by the server
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.EventSource) {
      return;
    }
    var log = document.querySelector("ol.log[data-events]");
    if (log) {
      followJob(log);
    }
    var lab = document.querySelector("#lab[data-events]");
    if (lab) {
      followOverview(lab);
    }
  });
})();

// The job page's queue box: why a queued job waits, kept current by the
// server's stream until the job leaves the queue.
(function () {
  function followQueue(section) {
    var box = section.querySelector("[data-queue]");
    var src = new EventSource(section.dataset.queueEvents);
    src.addEventListener("queue", function (ev) {
      box.innerHTML = ev.data; // HTML rendered and escaped by the server
    });
    src.addEventListener("end", function () {
      src.close();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = window.EventSource && document.querySelector("section[data-queue-events]");
    if (section) {
      followQueue(section);
    }
  });
})();
