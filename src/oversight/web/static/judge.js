// The judge's page, improved where scripts run (the page works without it).
// - Costed checks are sent in the background: the page keeps its scroll position and what the
//   judge typed; only the budget, the checks table and the error line are replaced.
// - Keys: A accept, R reject, 1-9 choose an answer (not while typing in a field).
// - Under a time limit, the seconds left count down; at zero the page reloads and the server
//   closes the item.
"use strict";

function replaceFrom(doc, selector) {
  const fresh = doc.querySelector(selector);
  const old = document.querySelector(selector);
  if (fresh && old) old.innerHTML = fresh.innerHTML;
}

async function sendCheck(event) {
  const form = event.target;
  // getAttribute: the check forms hold a field named "action", which hides form.action
  const url = form.getAttribute("action") || "";
  if (!url.endsWith("/check")) return;
  event.preventDefault();
  const response = await fetch(url, { method: "POST", body: new FormData(form) });
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  if (!doc.querySelector("#verdict-form")) {  // the item changed under us: show the new page
    window.location.reload();
    return;
  }
  for (const selector of ["#budget-left", "#checks-box", "#error-box"]) replaceFrom(doc, selector);
}

function shortcut(event) {
  const target = event.target;
  if (target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  let box = null;
  if (key === "a") box = document.querySelector("input[name=decision][value=accept]");
  if (key === "r") box = document.querySelector("input[name=decision][value=reject]");
  if (/^[1-9]$/.test(key)) box = document.querySelector(`input[name=answer][value="${Number(key) - 1}"]`);
  if (box) {
    box.checked = true;
    event.preventDefault();
  }
}

function countDown() {
  const clock = document.querySelector("#time-left");
  if (!clock) return;
  let left = Number(clock.dataset.seconds);
  const tick = setInterval(() => {
    left -= 1;
    clock.textContent = String(Math.max(left, 0));
    if (left < -6) {  // past the server's grace: it has closed the item
      clearInterval(tick);
      window.location.reload();
    }
  }, 1000);
}

document.addEventListener("submit", sendCheck);
document.addEventListener("DOMContentLoaded", countDown);
document.documentElement.dataset.keys = "on";  // the shortcuts are live (tests wait for it)
document.addEventListener("keydown", shortcut);
