// Confirmations on risky changes, for any page that loads this file:
// - a form with data-confirm="message" asks before it submits;
// - the rollout form (#stage-form) warns when the jump skips stages, and when no
//   model version has a learned threshold (data-no-threshold="yes").
(function () {
  "use strict";
  const STAGES = ["shadow", "5%", "10%", "25%", "50%", "100%"];

  function stageWarning(form) {
    const select = form.querySelector("select[name=stage]");
    if (!select) return null;
    const from = form.dataset.confirmStage, to = select.value;
    if (to === from || to === "shadow") return null;
    const lines = [];
    if (form.dataset.noThreshold === "yes") {
      lines.push("No model version has a learned threshold yet: nothing will be " +
                 "auto-approved at " + to + " until one is learned.");
    }
    const jump = STAGES.indexOf(to) - STAGES.indexOf(from);
    if (jump > 1) {
      lines.push("This jumps from " + from + " straight to " + to + ", skipping " +
                 (jump - 1) + " stage" + (jump > 2 ? "s" : "") + ".");
    }
    if (!lines.length) return null;
    return lines.join("\n") + "\n\nSet the rollout stage to " + to + " anyway?";
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const message = form.id === "stage-form" ? stageWarning(form) : form.dataset.confirm;
    if (message && !window.confirm(message)) {
      // Cancelled: nothing else may treat the form as sent (review.js disables the
      // buttons of a form on its way out).
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
