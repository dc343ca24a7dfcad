/* Reviewer pages: keyboard shortcuts, the lease heartbeat and countdowns.
   Served as a file (the CSP forbids inline script); configured by data-* attributes. */
(function () {
  "use strict";

  var review = document.getElementById("review");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var submitting = false;

  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" ||
                  el.tagName === "SELECT" || el.isContentEditable);
  }

  function hidePanels() {
    document.querySelectorAll("form.panel").forEach(function (panel) { panel.hidden = true; });
  }

  function reveal(id) {
    var panel = document.getElementById(id);
    if (!panel) { return; }
    hidePanels();
    panel.hidden = false;
    var first = panel.querySelector("select, textarea, input:not([type=hidden])");
    if (first) { first.focus(); }
  }

  function activate(el) {
    if (el.dataset.reveal) { reveal(el.dataset.reveal); return; }
    if (el.form) {
      if (submitting) { return; }
      el.form.requestSubmit(el);
    } else {
      el.click();
    }
  }

  // One submission per page: key repeat or a double press never sends twice.
  document.addEventListener("submit", function (event) {
    if (submitting) { event.preventDefault(); return; }
    submitting = true;
    // After the form data is built, so the clicked button's name=value still goes along.
    setTimeout(function () {
      document.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Escape") {
      if (typing(target)) { target.blur(); }
      hidePanels();
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
    if (el && !el.disabled) {
      event.preventDefault();
      activate(el);
    }
  });

  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-reveal]");
    if (el) { reveal(el.dataset.reveal); }
  });

  // Countdowns: "12m 03s left" / "overdue 4m 10s".
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

  // Heartbeat: keep the lease while the page is open.
  if (review && review.dataset.held === "1" && review.dataset.heartbeatUrl) {
    var seconds = Math.max(5, parseInt(review.dataset.heartbeatSeconds, 10) || 60);
    var lease = document.getElementById("lease-countdown");
    var timer = setInterval(function () {
      var body = new URLSearchParams({ lease_token: review.dataset.leaseToken });
      fetch(review.dataset.heartbeatUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf ? csrf.content : "" }
      }).then(function (response) {
        if (response.status === 409) {
          clearInterval(timer);
          var lost = document.getElementById("lease-lost");
          if (lost) { lost.hidden = false; }
          return null;
        }
        return response.ok ? response.json() : null;
      }).then(function (data) {
        if (data && data.lease_expires_at && lease) { lease.dataset.until = data.lease_expires_at; }
      }).catch(function () { /* offline for a moment: the next beat retries */ });
    }, seconds * 1000);
  }
}());
