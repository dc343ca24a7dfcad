// Timestamps in the viewer's terms: every <time class="when" datetime="...Z"> gets a
// relative phrase and the local time as its text; the exact UTC time stays in its
// title (hover). Re-run by dashboard.js after each refresh.
(function () {
  "use strict";
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
  const local = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

  function relative(date, now) {
    const seconds = Math.round((date - now) / 1000);
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size || unit === "second") {
        return rtf.format(Math.round(seconds / size), unit);
      }
    }
    return "";
  }

  function localise(root) {
    const now = Date.now();
    for (const el of (root || document).querySelectorAll("time.when[datetime]")) {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) continue;
      el.textContent = `${relative(date, now)} (${local.format(date)})`;
    }
  }

  window.reviewLocaliseTimes = localise;
  document.addEventListener("DOMContentLoaded", () => localise(document));
})();
