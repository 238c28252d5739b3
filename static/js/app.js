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

// The Menu button on a phone: open and close the side menu in place (without scripts it is a link to #sidenav).
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".menu-toggle");
  const menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (menu) {
    event.preventDefault();
    const open = menu.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }
});
