// Timestamps in the viewer's terms: every <time class="when" datetime="...Z"> shows a
// relative phrase ("5 min. ago"); hovering shows the local time and the exact UTC time
// (its title, which the server wrote). Re-run by dashboard.js after each refresh.
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
      if (!el.dataset.utc) el.dataset.utc = el.getAttribute("title") || "";
      el.textContent = relative(date, now);
      el.setAttribute("title", `${local.format(date)} local · ${el.dataset.utc}`);
    }
  }

  window.reviewLocaliseTimes = localise;
  document.addEventListener("DOMContentLoaded", () => localise(document));
})();
