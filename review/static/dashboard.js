// The dashboard refreshes itself: every data-refresh-seconds it fetches the page again
// and swaps #dashboard-live (figures, alerts, charts) in place, keeping the scroll
// position. It pauses while the tab is hidden and refreshes at once when it comes back.
(function () {
  "use strict";
  let timer = null;

  async function refresh() {
    const live = document.getElementById("dashboard-live");
    if (!live) return;
    try {
      const response = await fetch(window.location.href, {
        headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!response.ok || response.redirected) return;  // logged out: leave the page as is
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("dashboard-live");
      if (!fresh) return;
      live.replaceWith(document.adoptNode(fresh));
      if (window.reviewLocaliseTimes) window.reviewLocaliseTimes(fresh);
      fresh.dataset.refreshed = String(Date.now());
    } catch (err) {
      // Offline for a moment: the next tick tries again.
    }
  }

  function schedule() {
    const live = document.getElementById("dashboard-live");
    const seconds = Number(live && live.dataset.refreshSeconds) || 30;
    clearInterval(timer);
    timer = setInterval(() => { if (!document.hidden) refresh(); }, seconds * 1000);
  }

  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  document.addEventListener("DOMContentLoaded", schedule);
})();
