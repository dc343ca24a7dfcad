/* Reviewer pages: keyboard shortcuts, the lease (heartbeat, loss detection), countdowns,
   relative times and the edit diff. Served as a file (the CSP forbids inline script);
   configured by data-* attributes on #review. */
(function () {
  "use strict";

  var review = document.getElementById("review");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var held = !!(review && review.dataset.held === "1");
  var submitting = false;
  var verified = null;  // the form whose lease was just confirmed, submitted once more
  var lost = false;
  var LEASE_POLL_MS = 3000;

  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" ||
                  el.tagName === "SELECT" || el.isContentEditable);
  }

  function hidePanels() {
    document.querySelectorAll("form.panel").forEach(function (panel) { panel.hidden = true; });
  }

  function reveal(id) {
    var panel = document.getElementById(id);
    if (!panel || lost) { return; }
    hidePanels();
    panel.hidden = false;
    var first = panel.querySelector("select, textarea, input:not([type=hidden])");
    if (first) { first.focus(); }
    checkLease();
  }

  // --- The lease: is this item still mine? --------------------------------------

  function leaseLost() {
    if (lost) { return; }
    lost = true;
    hidePanels();
    document.querySelectorAll("#actions button, form.panel button, form.panel textarea, " +
                              "form.panel select, form.panel input").forEach(function (el) {
      if (!el.dataset.always) { el.disabled = true; }
    });
    var box = document.getElementById("lease-lost");
    if (box) { box.hidden = false; }
    var countdown = document.getElementById("lease-countdown");
    if (countdown) { delete countdown.dataset.until; countdown.textContent = "lost"; }
    var status = document.getElementById("item-status");
    if (status) { status.textContent = "not yours any more"; status.className = "badge warn"; }
    document.title = "Not yours any more · " + document.title;
  }

  function checkLease() {
    if (!held || lost || !review.dataset.leaseStatusUrl) { return Promise.resolve(!lost); }
    var url = review.dataset.leaseStatusUrl + "?token=" +
      encodeURIComponent(review.dataset.leaseToken || "");
    return fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.held === false) { leaseLost(); return false; }
        return true;
      })
      .catch(function () { return true; });  // offline for a moment: the server still guards
  }

  function needsLease(form) {
    return held && form && (form.closest("#actions") || form.classList.contains("panel")) &&
      !form.querySelector("[data-always]");
  }

  // One submission per page, and only while the lease holds: key repeat or a double press
  // never sends twice, and a lost lease is caught before anything is sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (submitting) { event.preventDefault(); return; }
    if (needsLease(form) && verified !== form) {
      event.preventDefault();
      if (lost) { return; }
      var submitter = event.submitter || null;
      checkLease().then(function (ok) {
        if (!ok) { return; }
        verified = form;
        form.requestSubmit(submitter);
      });
      return;
    }
    verified = null;
    submitting = true;
    // After the form data is built, so the clicked button's name=value still goes along.
    setTimeout(function () {
      document.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  function activate(el) {
    if (lost && !el.dataset.always) { leaseLost(); return; }
    if (el.dataset.reveal) { reveal(el.dataset.reveal); return; }
    if (el.form) {
      if (submitting) { return; }
      el.form.requestSubmit(el);
    } else {
      el.click();
    }
  }

  function pickReason(select, digit) {
    var option = select.options[digit];  // option 0 is "choose a reason…"
    if (option) { select.value = option.value; }
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Escape") {
      if (typing(target)) { target.blur(); }
      hidePanels();
      return;
    }
    var digit = /^[1-9]$/.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey;
    var reasons = document.getElementById("reject-reason");
    var rejectOpen = reasons && reasons.dataset.digitPicks && !reasons.closest("form").hidden;
    if (digit && rejectOpen && (target === reasons || !typing(target))) {
      event.preventDefault();
      pickReason(reasons, parseInt(event.key, 10));
      reasons.focus();
      return;
    }
    if (typing(target)) {
      var form = target.form;
      var send = event.key === "Enter" &&
        (event.ctrlKey || event.metaKey || target.dataset.submitOnEnter === "1");
      if (form && send && !submitting) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var el = document.querySelector('[data-key="' + event.key.toLowerCase() + '"]');
    if (el && (!el.disabled || lost)) {
      event.preventDefault();
      activate(el);
    }
  });

  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-reveal]");
    if (el) { reveal(el.dataset.reveal); }
  });

  // --- Countdowns: "12m 03s left" / "overdue 4m 10s" --------------------------------

  function format(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + "h " + pad(m) + "m" : m + "m " + pad(sec) + "s");
  }
  function tick() {
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Date.parse(el.dataset.until) - Date.now();
      if (isNaN(left)) { return; }
      el.textContent = left >= 0 ? format(left) + " left" : "overdue " + format(left);
      el.classList.toggle("overdue", left < 0);
    });
  }
  tick();
  setInterval(tick, 1000);

  // --- Relative times: "4 min ago", the exact UTC time on hover --------------------------

  function utc(date) {
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }
  function relative(ms) {
    var future = ms < 0, s = Math.round(Math.abs(ms) / 1000), text;
    if (s < 45) { return "just now"; }
    if (s < 3600) { text = Math.round(s / 60) + " min"; }
    else if (s < 86400) { text = Math.round(s / 3600) + " h"; }
    else { text = Math.round(s / 86400) + " d"; }
    return future ? "in " + text : text + " ago";
  }
  function relabel() {
    document.querySelectorAll("time.reltime[datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) { return; }
      el.textContent = relative(Date.now() - at.getTime());
      el.title = utc(at);
    });
  }
  relabel();
  setInterval(relabel, 30000);

  // --- The edit diff: what the saved edit will change, word by word -------------------

  function words(text) { return text.split(/(\s+)/).filter(function (t) { return t !== ""; }); }
  function diff(a, b) {
    var n = a.length, m = b.length, i, j;
    if (n * m > 4000000) { return null; }
    var lcs = [];
    for (i = 0; i <= n; i++) { lcs.push(new Int32Array(m + 1)); }
    for (i = n - 1; i >= 0; i--) {
      for (j = m - 1; j >= 0; j--) {
        lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    var out = [];
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { out.push(["same", a[i]]); i++; j++; }
      else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { out.push(["ins", b[j]]); j++; }
      else { out.push(["del", a[i]]); i++; }
    }
    return out;
  }
  var editor = document.getElementById("edit-output");
  var preview = document.getElementById("edit-diff");
  if (editor && preview) {
    var pending = null;
    var render = function () {
      var before = editor.defaultValue, after = editor.value;
      preview.replaceChildren();
      preview.hidden = before === after;
      if (before === after) { return; }
      var title = document.createElement("strong");
      title.textContent = "Your change: ";
      preview.appendChild(title);
      var parts = diff(words(before), words(after));
      if (parts === null) {
        preview.appendChild(document.createTextNode("too long to compare word by word."));
        return;
      }
      // Adjacent runs of one kind read as one change ("+ a few words", not word by word).
      parts = parts.reduce(function (runs, part) {
        var last = runs[runs.length - 1];
        if (last && last[0] === part[0]) { last[1] += part[1]; } else { runs.push(part.slice()); }
        return runs;
      }, []);
      parts.forEach(function (part) {
        var node = part[0] === "same" ? document.createTextNode(part[1])
          : document.createElement(part[0]);
        if (part[0] !== "same") { node.textContent = part[1]; }
        preview.appendChild(node);
      });
    };
    editor.addEventListener("input", function () {
      clearTimeout(pending);
      pending = setTimeout(render, 150);
    });
  }

  // --- Heartbeat and lease watch ---------------------------------------------------

  if (held && review.dataset.heartbeatUrl) {
    var seconds = Math.max(5, parseInt(review.dataset.heartbeatSeconds, 10) || 60);
    var leaseCountdown = document.getElementById("lease-countdown");
    var beat = setInterval(function () {
      if (lost || submitting) { clearInterval(beat); return; }
      var body = new URLSearchParams({ lease_token: review.dataset.leaseToken });
      fetch(review.dataset.heartbeatUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf ? csrf.content : "" }
      }).then(function (response) {
        if (response.status === 409) { leaseLost(); return null; }
        return response.ok ? response.json() : null;
      }).then(function (data) {
        if (data && data.lease_expires_at && leaseCountdown && !lost) {
          leaseCountdown.dataset.until = data.lease_expires_at;
        }
      }).catch(function () { /* offline for a moment: the next beat retries */ });
    }, seconds * 1000);

    // A supervisor may release or reassign the item at any time: look every few seconds,
    // when the tab comes back into view, and before every action (the submit handler).
    var watch = setInterval(function () {
      if (lost || submitting) { clearInterval(watch); return; }
      if (!document.hidden) { checkLease(); }
    }, LEASE_POLL_MS);
    window.addEventListener("focus", function () { if (!submitting) { checkLease(); } });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !submitting) { checkLease(); }
    });
  }
}());
