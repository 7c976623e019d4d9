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

  // Result markers, as the server writes them (resultMarker in logfold.go).
  var MARKERS = { pass: "✓ pass", fail: "✗ fail", skip: "− skip", unknown: "? unknown" };

  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function lineItem(l) {
    var li = document.createElement("li");
    li.id = "L" + l.n;
    li.className = "lvl-" + l.l + (l.r ? " r-" + l.r : "");
    var a = document.createElement("a");
    a.className = "ln";
    a.href = "#L" + l.n;
    a.textContent = String(l.n);
    li.appendChild(a);
    li.appendChild(document.createTextNode(" "));
    if (l.t) {
      li.appendChild(span("t", l.t));
      li.appendChild(document.createTextNode(" "));
    }
    li.appendChild(span("lv", l.l));
    li.appendChild(document.createTextNode(" "));
    if (l.r) {
      li.appendChild(span("rm", MARKERS[l.r] || MARKERS.unknown));
      li.appendChild(document.createTextNode(" "));
    }
    var m = span("m", "");
    if (l.h) {
      m.innerHTML = l.h; // the line's colours, rendered and escaped by the server
    } else {
      m.textContent = l.m;
    }
    li.appendChild(m);
    return li;
  }

  // Folding live lines by action: the rules of internal/web/logfold.go.
  // Sections are <li class="sec act"> (an action) and <li class="sec blk">
  // (boot output), each <details><summary>…</summary><ol class="sec">.

  function secBody(sec) {
    return sec.querySelector(":scope > details > ol");
  }

  function secSummary(sec) {
    return sec.querySelector(":scope > details > summary");
  }

  function isAncestor(a, b) {
    return b.length > a.length && b.indexOf(a) === 0 && b.charAt(a.length) === ".";
  }

  function resultFor(sec, m) {
    return m.v ? sec.dataset.level === m.v : sec.dataset.name === m.n;
  }

  function setState(sec, text) {
    var took = secSummary(sec).querySelector(".took");
    if (took) {
      took.textContent = text;
    }
  }

  function setResult(sec, r) {
    if (/\br-/.test(sec.className)) {
      return;
    }
    sec.classList.add("r-" + r);
    var sum = secSummary(sec);
    var badge = span("badge r-" + r, MARKERS[r] || MARKERS.unknown);
    sum.insertBefore(badge, sum.querySelector(".took"));
    sum.insertBefore(document.createTextNode(" "), sum.querySelector(".took"));
    if (r === "fail" || r === "unknown") {
      sec.firstElementChild.open = true;
    }
  }

  function newSection(cls, summaryParts) {
    var li = document.createElement("li");
    li.className = "sec " + cls;
    var d = document.createElement("details");
    d.open = true;
    var sum = document.createElement("summary");
    summaryParts.forEach(function (p, i) {
      if (i > 0) {
        sum.appendChild(document.createTextNode(" "));
      }
      sum.appendChild(p);
    });
    d.appendChild(sum);
    var ol = document.createElement("ol");
    ol.className = "sec";
    d.appendChild(ol);
    li.appendChild(d);
    return li;
  }

  function Folder(log) {
    this.log = log;
    this.stack = []; // the open actions, outermost first
    this.ended = {}; // level → the last action of that level that ended
    this.justEnded = null; // the action whose end line came last
    this.run = null; // the boot output being collected
    this.bootRun = parseInt(log.dataset.bootRun, 10) || 10;
    // The actions the server's window ends inside.
    var box = log;
    for (;;) {
      var last = box.lastElementChild;
      if (!last || !last.classList.contains("act") || last.hasAttribute("data-ended")) {
        break;
      }
      this.stack.push(last);
      box = secBody(last);
    }
    var tail = box.lastElementChild;
    if (tail && tail.classList.contains("act") && !/\br-/.test(tail.className)) {
      this.justEnded = tail;
    }
    var owner = this.owner();
    if (owner && owner.hasAttribute("data-boot") && tail) {
      if (tail.classList.contains("blk")) {
        this.run = { box: box, block: tail, lines: [], first: +tail.dataset.first, count: +tail.dataset.lines };
      } else if (tail.classList.contains("lvl-target")) {
        var lines = [];
        for (var el = tail; el && el.classList.contains("lvl-target"); el = el.previousElementSibling) {
          lines.unshift(el);
        }
        this.run = { box: box, block: null, lines: lines, first: +lines[0].id.slice(1), count: lines.length };
      }
    }
  }

  Folder.prototype.owner = function () {
    return this.stack.length ? this.stack[this.stack.length - 1] : null;
  };

  // closeTo ends the open actions above depth n (without an end line).
  Folder.prototype.closeTo = function (n) {
    for (var i = n; i < this.stack.length; i++) {
      this.stack[i].setAttribute("data-ended", "");
      setState(this.stack[i], "");
    }
    this.stack.length = n;
  };

  // add files line l (its element li, or null when the level filter hides
  // it) where it belongs.
  Folder.prototype.add = function (l, li) {
    var m = l.s;
    var just = this.justEnded;
    this.justEnded = null;
    var i;
    if (m && m.k === "start") {
      var n = this.stack.length;
      while (n > 0 && !isAncestor(this.stack[n - 1].dataset.level, m.v)) {
        n--;
      }
      this.closeTo(n);
      var parent = this.owner();
      var sec = newSection("act", [span("sl", m.v), span("sn", m.n || ""), span("took", "running")]);
      sec.dataset.level = m.v;
      sec.dataset.name = m.n || "";
      if ((parent && parent.hasAttribute("data-boot")) || (m.n || "").indexOf("boot") >= 0) {
        sec.setAttribute("data-boot", "");
      }
      (parent ? secBody(parent) : this.log).appendChild(sec);
      foldTools(this.log);
      this.run = null;
      this.stack.push(sec);
      this.put(sec, l, li);
      return;
    }
    if (m && m.k === "end") {
      for (i = this.stack.length - 1; i >= 0; i--) {
        var s = this.stack[i];
        if (s.dataset.level === m.v) {
          this.closeTo(i + 1);
          this.put(s, l, li);
          s.setAttribute("data-ended", "");
          setState(s, m.d || "");
          this.stack.length = i;
          this.justEnded = s;
          this.ended[m.v] = s;
          return;
        }
      }
    }
    if (m && m.k === "result") {
      if (just && resultFor(just, m)) {
        setResult(just, l.r);
        this.put(just, l, li);
        return;
      }
      var t = null;
      for (i = this.stack.length - 1; i >= 0 && !t; i--) {
        if (resultFor(this.stack[i], m)) {
          t = this.stack[i];
        }
      }
      t = t || (m.v ? this.ended[m.v] : null);
      if (t) {
        setResult(t, l.r);
      }
    }
    this.put(this.owner(), l, li);
  };

  // put adds a line to section sec (null: the top of the log); in a boot
  // action, runs of target lines become a block of boot output.
  Folder.prototype.put = function (sec, l, li) {
    var box = sec ? secBody(sec) : this.log;
    if (!(sec && sec.hasAttribute("data-boot") && l.l === "target")) {
      this.run = null;
      if (li) {
        box.appendChild(li);
      }
      return;
    }
    var r = this.run;
    if (!r || r.box !== box) {
      r = this.run = { box: box, block: null, lines: [], first: l.n, count: 0 };
    }
    r.count++;
    if (r.block) {
      if (li) {
        secBody(r.block).appendChild(li);
      }
    } else {
      if (li) {
        box.appendChild(li);
        r.lines.push(li);
      }
      if (r.count >= this.bootRun) {
        r.block = newSection("blk", [span("sn", "Boot output"), span("took", "")]);
        r.block.dataset.first = String(r.first);
        var at = r.lines.length && r.lines[0].parentNode === box ? r.lines[0] : null;
        box.insertBefore(r.block, at);
        var inner = secBody(r.block);
        r.lines.forEach(function (x) {
          inner.appendChild(x);
        });
        r.lines = [];
      }
    }
    if (r.block) {
      r.block.dataset.lines = String(r.count);
      setState(r.block, r.count + " lines, " + r.first + "–" + l.n);
    }
  };

  // trim removes the first line, and the sections it leaves empty.
  Folder.prototype.trim = function () {
    var first = this.log.querySelector("li[id]");
    if (!first) {
      return false;
    }
    var box = first.parentElement;
    first.remove();
    while (box !== this.log && !box.querySelector("li[id]")) {
      var sec = box.parentElement.parentElement; // ol < details < li.sec
      if (this.stack.indexOf(sec) >= 0 || (this.run && this.run.block === sec)) {
        break;
      }
      box = sec.parentElement;
      sec.remove();
    }
    return true;
  };

  // reveal unfolds the sections around the line the address points at.
  function reveal() {
    var el = location.hash.length > 1 ? document.getElementById(location.hash.slice(1)) : null;
    if (!el) {
      return;
    }
    var folded = false;
    for (var d = el.parentElement; d; d = d.parentElement) {
      if (d.tagName === "DETAILS" && !d.open) {
        d.open = true;
        folded = true;
      }
    }
    if (folded) {
      el.scrollIntoView();
    }
  }

  // foldTools adds buttons that unfold or fold every section, once the log
  // has sections.
  function foldTools(log) {
    var prev = log.previousElementSibling;
    if ((prev && prev.classList.contains("fold-tools")) || !log.querySelector("details")) {
      return;
    }
    var p = document.createElement("p");
    p.className = "fold-tools";
    [["Unfold all", true], ["Fold all", false]].forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = b[0];
      button.addEventListener("click", function () {
        log.querySelectorAll("details").forEach(function (d) {
          d.open = b[1];
        });
      });
      p.appendChild(button);
      p.appendChild(document.createTextNode(" "));
    });
    log.parentElement.insertBefore(p, log);
  }

  // atBottom says the reader is at the end of the page: keep following.
  function atBottom() {
    var el = document.scrollingElement || document.documentElement;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }

  function followJob(log) {
    if (!window.EventSource) {
      return;
    }
    var src = new EventSource(log.dataset.events);
    var follow = log.hasAttribute("data-follow");
    var only = log.dataset.levels ? log.dataset.levels.split(",") : null;
    var status = document.querySelector("[data-live-status]");
    var lead = document.querySelector("[data-job-state]");
    var badges = lead ? lead.querySelectorAll(".badge") : [];
    var missed = 0;
    var folder = new Folder(log);
    var count = log.querySelectorAll("li[id]").length;
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
      lines.forEach(function (l) {
        var li = !only || only.indexOf(l.l) >= 0 ? lineItem(l) : null;
        folder.add(l, li);
        if (li) {
          count++;
        }
      });
      while (count > MAX_LINES && folder.trim()) {
        count--;
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
    var all = document.querySelector("ol.log");
    if (all) {
      foldTools(all);
      reveal();
      window.addEventListener("hashchange", reveal);
    }
    var log = document.querySelector("ol.log[data-events]");
    if (log) {
      followJob(log);
    }
    var lab = document.querySelector("#lab[data-events]");
    if (lab && window.EventSource) {
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

// The web console of a running reservation (device page): the session's
// log replayed as a terminal would show the board's output, followed
// live; its holder's keys, pastes and power buttons sent to the server in
// order, one request at a time. It mirrors `basalt console`: the
// session's own messages are "[basalt] …" lines, and Ctrl-] starts a
// command (1 power on, 0 power off, r hard reset, ? help).
(function () {
  var MAX_ROWS = 3000; // rows kept on the page
  var MAX_SEND = 16384; // bytes of typing coalesced into one request
  var HELP = "Ctrl-] then: 1 power on, 0 power off, r hard reset, q leave the console, ? this help, Ctrl-] a Ctrl-] itself";

  // Term is a basic terminal over a <pre>: text, \r, \n, \b, \t, and the
  // escape sequences that erase or move along the current line; colours
  // and other sequences are dropped.
  function Term(pre) {
    this.pre = pre;
    this.rows = [];
    this.col = 0;
    this.esc = ""; // an escape sequence being read, across writes
    this.dirty = [];
    this.newRow();
  }

  Term.prototype.newRow = function (cls) {
    var el = document.createElement("span");
    el.className = "row" + (cls ? " " + cls : "");
    var r = { el: el, text: "" };
    this.pre.appendChild(el);
    this.rows.push(r);
    this.cur = r;
    this.col = 0;
    this.touch(r);
    while (this.rows.length > MAX_ROWS) {
      this.rows.shift().el.remove();
    }
    return r;
  };

  Term.prototype.touch = function (r) {
    if (!r.dirty) {
      r.dirty = true;
      this.dirty.push(r);
    }
  };

  Term.prototype.put = function (s) {
    var r = this.cur;
    var t = r.text;
    while (t.length < this.col) {
      t += " ";
    }
    r.text = t.slice(0, this.col) + s + t.slice(this.col + s.length);
    this.col += s.length;
    this.touch(r);
  };

  // sequence applies a complete escape sequence.
  Term.prototype.sequence = function (seq) {
    var m = /^\x1b\[([0-9;?]*)([@-~])$/.exec(seq);
    if (!m) {
      return; // OSC, charset selection, …: nothing to show
    }
    var n = parseInt(m[1], 10);
    var r = this.cur;
    switch (m[2]) {
      case "K": // erase in line
        if (!n) {
          r.text = r.text.slice(0, this.col);
        } else if (n === 1) {
          r.text = new Array(this.col + 1).join(" ") + r.text.slice(this.col);
        } else {
          r.text = "";
        }
        this.touch(r);
        break;
      case "C":
        this.col += n || 1;
        break;
      case "D":
        this.col = Math.max(this.col - (n || 1), 0);
        break;
      case "G":
        this.col = Math.max((n || 1) - 1, 0);
        break;
      case "P": // delete characters
        r.text = r.text.slice(0, this.col) + r.text.slice(this.col + (n || 1));
        this.touch(r);
        break;
      case "@": // insert blanks
        r.text = r.text.slice(0, this.col) + new Array((n || 1) + 1).join(" ") + r.text.slice(this.col);
        this.touch(r);
        break;
      case "J":
        if (n === 2 || n === 3) {
          this.newRow();
        }
        break;
    }
  };

  // write shows the board's output s.
  Term.prototype.write = function (s) {
    var text = "";
    var self = this;
    function flush() {
      if (text) {
        self.put(text);
        text = "";
      }
    }
    for (var i = 0; i < s.length; i++) {
      var c = s.charAt(i);
      if (this.esc) {
        this.esc += c;
        var e = this.esc;
        if (e.length === 2 && c !== "[" && c !== "]" && c !== "(" && c !== ")") {
          this.esc = ""; // a two-character sequence
        } else if (e.charAt(1) === "[" && e.length > 2 && c >= "@" && c <= "~") {
          this.sequence(e);
          this.esc = "";
        } else if (e.charAt(1) === "]" && (c === "\x07" || e.slice(-2) === "\x1b\\")) {
          this.esc = "";
        } else if ((e.charAt(1) === "(" || e.charAt(1) === ")") && e.length === 3) {
          this.esc = "";
        } else if (e.length > 256) {
          this.esc = ""; // not a sequence after all
        }
        continue;
      }
      var code = s.charCodeAt(i);
      if (code >= 0x20 && code !== 0x7f) {
        text += c;
        continue;
      }
      flush();
      switch (c) {
        case "\x1b":
          this.esc = c;
          break;
        case "\r":
          this.col = 0;
          break;
        case "\n":
          this.newRow();
          break;
        case "\b":
          this.col = Math.max(this.col - 1, 0);
          break;
        case "\t":
          this.put(new Array(8 - (this.col % 8) + 1).join(" "));
          break;
      }
    }
    flush();
  };

  // say shows a message of the session itself on a line of its own.
  Term.prototype.say = function (level, msg) {
    if (this.cur.text !== "") {
      this.newRow();
    }
    this.cur.el.className = "row say lvl-" + level;
    this.put("[basalt] " + msg.replace(/[\r\n]+$/, "").replace(/[\r\n]+/g, " "));
    this.newRow();
  };

  // render updates the rows that changed, and draws the cursor.
  Term.prototype.render = function () {
    var cur = this.cur;
    if (this.drawn && this.drawn !== cur) {
      this.touch(this.drawn); // the cursor left it
    }
    if (this.drawn !== cur || this.drawnCol !== this.col) {
      this.touch(cur);
    }
    var col = this.col;
    this.dirty.forEach(function (r) {
      r.dirty = false;
      if (r !== cur) {
        r.el.textContent = r.text + "\n";
        return;
      }
      r.el.textContent = "";
      var before = r.text.slice(0, col);
      while (before.length < col) {
        before += " ";
      }
      r.el.appendChild(document.createTextNode(before));
      var c = document.createElement("span");
      c.className = "cursor";
      c.textContent = r.text.charAt(col) || " ";
      r.el.appendChild(c);
      r.el.appendChild(document.createTextNode(r.text.slice(col + 1) + "\n"));
    });
    this.dirty = [];
    this.drawn = cur;
    this.drawnCol = col;
  };

  // Sender posts keys and power actions in order, one request in flight;
  // what is typed meanwhile waits and goes in the next request.
  function Sender(url, report) {
    this.url = url;
    this.report = report;
    this.queue = [];
    this.busy = false;
  }

  Sender.prototype.type = function (data) {
    var last = this.queue[this.queue.length - 1];
    if (last && last.data !== undefined && last.data.length + data.length <= MAX_SEND) {
      last.data += data;
    } else {
      this.queue.push({ data: data });
    }
    this.pump();
  };

  Sender.prototype.power = function (action) {
    this.queue.push({ power: action });
    this.pump();
  };

  Sender.prototype.pump = function () {
    if (this.busy || !this.queue.length) {
      return;
    }
    var item = this.queue.shift();
    var body = new URLSearchParams();
    if (item.power) {
      body.set("power", item.power);
    } else {
      body.set("data", item.data);
    }
    this.busy = true;
    var self = this;
    fetch(this.url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (resp) {
        if (resp.ok) {
          return "";
        }
        return resp.text().then(function (t) {
          return resp.status + " " + (t.trim() || resp.statusText);
        });
      }, function (err) {
        return String(err);
      })
      .then(function (failure) {
        self.busy = false;
        if (failure) {
          self.report(failure);
        }
        self.pump();
      });
  };

  // KEYS are the bytes the named keys send (xterm's).
  var KEYS = {
    Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b",
    ArrowUp: "\x1b[A", ArrowDown: "\x1b[B", ArrowRight: "\x1b[C", ArrowLeft: "\x1b[D",
    Home: "\x1b[H", End: "\x1b[F", Insert: "\x1b[2~", Delete: "\x1b[3~", PageUp: "\x1b[5~", PageDown: "\x1b[6~",
    F1: "\x1bOP", F2: "\x1bOQ", F3: "\x1bOR", F4: "\x1bOS", F5: "\x1b[15~", F6: "\x1b[17~",
    F7: "\x1b[18~", F8: "\x1b[19~", F9: "\x1b[20~", F10: "\x1b[21~", F11: "\x1b[23~", F12: "\x1b[24~"
  };

  // keyBytes returns what a key press types, or null for a key the
  // browser keeps (Ctrl-V pastes, Ctrl-Shift-C copies).
  function keyBytes(e) {
    if (e.metaKey || (e.ctrlKey && e.shiftKey)) {
      return null;
    }
    var single = Array.from(e.key).length === 1;
    if ((e.ctrlKey && e.altKey) || (e.getModifierState && e.getModifierState("AltGraph"))) {
      return single ? e.key : null; // AltGr composes a character (@ on many keyboards)
    }
    if (e.ctrlKey) {
      if (e.key === "v" || e.key === "V") {
        return null;
      }
      if (e.key.length === 1) {
        var k = e.key.toUpperCase().charCodeAt(0);
        if (k >= 0x40 && k <= 0x5f) { // @, A–Z, [, \, ], ^, _
          return String.fromCharCode(k & 0x1f);
        }
        if (e.key === " " || e.key === "2") {
          return "\x00";
        }
        if (e.key === "/") {
          return "\x1f";
        }
      }
      return KEYS[e.key] || null;
    }
    var out = KEYS[e.key];
    if (out === undefined && single) {
      out = e.key;
    }
    if (out === undefined) {
      return null;
    }
    return e.altKey ? "\x1b" + out : out;
  }

  function followConsole(box) {
    var pre = box.querySelector("pre.term");
    var status = box.querySelector("[data-console-status]");
    var typed = box.querySelector("[data-console-typed]");
    var term = new Term(pre);
    var live = true;
    function tell(text) {
      status.textContent = text;
    }
    tell("Connecting to the console…");

    var src = new EventSource(box.dataset.consoleEvents);
    src.addEventListener("open", function () {
      tell(box.dataset.consoleInput ? "Live. Click the console to type." : "Live.");
    });
    src.addEventListener("error", function () {
      if (live) {
        tell("Connection to the server lost; reconnecting (nothing is missed).");
      }
    });
    src.addEventListener("lines", function (ev) {
      var stick = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
      JSON.parse(ev.data).forEach(function (l) {
        switch (l.l) {
          case "target":
            term.write(l.m);
            break;
          case "info":
          case "warning":
          case "error":
          case "exception":
            term.say(l.l, l.m);
            break;
          case "input":
            var li = document.createElement("li");
            li.textContent = JSON.stringify(l.m);
            typed.appendChild(li);
            if (typed.children.length > 100) {
              typed.firstElementChild.remove();
            }
            break;
        }
      });
      term.render();
      if (stick) {
        pre.scrollTop = pre.scrollHeight;
      }
    });
    src.addEventListener("end", function (ev) {
      var s = JSON.parse(ev.data);
      live = false;
      src.close();
      term.say("info", "the reservation of " + box.dataset.device + " ended (" + s.health + ")");
      term.render();
      box.removeAttribute("data-console-input");
      box.querySelectorAll(".console-power button").forEach(function (b) {
        b.disabled = true;
      });
      tell("The reservation ended.");
    });

    if (!box.dataset.consoleInput) {
      pre.addEventListener("keydown", function (e) {
        if (keyBytes(e) !== null && !e.ctrlKey && !e.altKey && e.key.length === 1) {
          tell("Read-only: " + box.dataset.device + " is held by " + box.dataset.holder + ".");
        }
      });
      return;
    }
    var sender = new Sender(box.dataset.consoleInput, function (failure) {
      term.say("warning", "not sent: " + failure);
      term.render();
    });
    var forms = {};
    box.querySelectorAll("form[data-power]").forEach(function (f) {
      forms[f.dataset.power] = f;
      f.addEventListener("submit", function (e) {
        e.preventDefault();
        power(f.dataset.power);
      });
    });
    function power(action) {
      var f = forms[action];
      if (!box.dataset.consoleInput || (f && f.dataset.confirm && !window.confirm(f.dataset.confirm))) {
        return;
      }
      sender.power(action);
    }
    function send(data) {
      if (box.dataset.consoleInput) {
        sender.type(data);
        pre.scrollTop = pre.scrollHeight;
      }
    }
    var escaped = false;
    pre.addEventListener("keydown", function (e) {
      if (e.isComposing) {
        return;
      }
      var b = keyBytes(e);
      if (b === null) {
        return;
      }
      e.preventDefault();
      if (escaped) {
        escaped = false;
        switch (b) {
          case "\x1d":
            send(b);
            return;
          case "1":
            power("on");
            return;
          case "0":
            power("off");
            return;
          case "r":
          case "R":
            power("reset");
            return;
          case "q":
          case "Q":
          case ".":
            pre.blur();
            return;
        }
        term.say("info", HELP);
        term.render();
        return;
      }
      if (b === "\x1d") {
        escaped = true;
        return;
      }
      send(b);
    });
    pre.addEventListener("paste", function (e) {
      var text = (e.clipboardData || window.clipboardData).getData("text");
      e.preventDefault();
      if (text) {
        send(text.replace(/\r?\n/g, "\r"));
      }
    });
    pre.addEventListener("focus", function () {
      box.classList.add("typing");
    });
    pre.addEventListener("blur", function () {
      box.classList.remove("typing");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    // Forms that end something ask first (the console's power forms
    // ask in followConsole).
    document.querySelectorAll("form[data-confirm]:not([data-power])").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.dataset.confirm)) {
          e.preventDefault();
        }
      });
    });
    var box = window.EventSource && document.querySelector("section[data-console-events]");
    if (box) {
      followConsole(box);
    }
  });
})();
