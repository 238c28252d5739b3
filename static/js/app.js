/* Partner Center — the little behaviour the pages need, with no inline handlers:
   the Content-Security-Policy runs scripts from this site only (docs/security.md). */
"use strict";

// <button data-confirm="Question?">: ask first, do nothing unless confirmed.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});

// <select data-autosubmit>: choosing an option submits its form (a <noscript> button does it without scripts).
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) {
    select.form.submit();
  }
});
