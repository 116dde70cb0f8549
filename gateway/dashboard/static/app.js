// Light touches only: the dashboard works without JavaScript.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// Auto-refresh (the overview: <body data-refresh="seconds">): fetch the same page with the session
// cookie and swap the live part in place, so the scroll position and an open menu stay. Paused while
// the tab is hidden; a failed fetch (server restarting, session ended) is retried at the next tick,
// and an answer that is not the page (the login page after the session expired) reloads it.
(() => {
  const seconds = Number(document.body.dataset.refresh || 0);
  if (!seconds) return;
  const tick = async () => {
    if (document.hidden) return;
    try {
      const answer = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
      if (!answer.ok) return;
      const next = new DOMParser().parseFromString(await answer.text(), "text/html");
      const live = next.getElementById("live");
      const stamp = next.getElementById("refreshed-at");
      if (!live) { window.location.reload(); return; }
      document.getElementById("live").replaceWith(live);
      if (stamp) document.getElementById("refreshed-at").replaceWith(stamp);
    } catch (error) {
      // offline for a moment: try again at the next tick
    }
  };
  window.setInterval(tick, seconds * 1000);
})();
