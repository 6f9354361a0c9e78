// The 72-hour clock as the pages show it. The server computes the time left from its own clock
// (the injected one); the page only counts down from that answer, so a skewed browser clock
// cannot show a wrong deadline.

/** `71h 05m left`, or `3h 10m overdue`. */
export function timeLeft(ms) {
  const abs = Math.abs(ms);
  const hours = Math.floor(abs / 3_600_000);
  const minutes = Math.floor((abs % 3_600_000) / 60_000);
  return `${hours}h ${String(minutes).padStart(2, '0')}m ${ms >= 0 ? 'left' : 'overdue'}`;
}

/** Keeps `el` showing the time left, counted down from `remainingMs` as the server gave it. */
export function countDown(el, clock) {
  const start = performance.now();
  const render = () => {
    if (clock.stopped) {
      el.textContent = 'first report approved: the clock has stopped';
      return;
    }
    const left = clock.remainingMs - (performance.now() - start);
    el.textContent = timeLeft(left);
    el.className = `clock${left < 0 ? ' overdue' : left < 24 * 3_600_000 ? ' soon' : ''}`;
  };
  render();
  if (!clock.stopped) setInterval(render, 30_000);
}
