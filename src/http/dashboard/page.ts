/** The dashboard's HTML. Every asset it loads comes from the same endpoint. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>outbox-dispatcher</title>
<link rel="stylesheet" href="dashboard.css">
<script src="dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>outbox-dispatcher</h1>
  <div class="badges">
    <span>dispatcher <b id="state" class="badge">…</b></span>
    <span>breaker <b id="breaker" class="badge">…</b></span>
    <span>store <b id="store-state" class="badge">…</b></span>
  </div>
  <form id="token-form" autocomplete="off">
    <label for="token">Admin token</label>
    <input id="token" type="password" placeholder="needed for actions">
    <button type="submit">Use</button>
    <button type="button" id="token-forget">Forget</button>
  </form>
</header>
<p id="message" role="status" aria-live="polite"></p>
<main>
  <section class="figures">
    <div class="figure">
      <span class="label">Delivered</span><span id="delivered-total">0</span>
    </div>
    <div class="figure"><span class="label">Retried</span><span id="retried-total">0</span></div>
    <div class="figure"><span class="label">Dead-lettered</span><span id="dead-total">0</span></div>
    <div class="figure"><span class="label">Pending</span><span id="pending-total">0</span></div>
    <div class="figure"><span class="label">In flight</span><span id="inflight-total">0</span></div>
    <div class="figure"><span class="label">Dead now</span><span id="dead-now">0</span></div>
    <div class="figure"><span class="label">Lag</span><span id="lag">0 s</span></div>
  </section>
  <section class="charts">
    <figure>
      <figcaption>Throughput, events/s <span class="legend ok">delivered</span>
        <span class="legend bad">failed</span> <span id="throughput-now"></span></figcaption>
      <svg id="chart-throughput" viewBox="0 0 600 160" preserveAspectRatio="none"
        role="img" aria-label="throughput over the last minutes"></svg>
    </figure>
    <figure>
      <figcaption>Lag: age of the oldest pending event, s <span id="lag-now"></span></figcaption>
      <svg id="chart-lag" viewBox="0 0 600 160" preserveAspectRatio="none"
        role="img" aria-label="lag over the last minutes"></svg>
    </figure>
  </section>
  <section>
    <h2>Limiter</h2>
    <table id="limiter"><tbody></tbody></table>
  </section>
  <section>
    <h2>Event types</h2>
    <table id="types">
      <thead><tr><th>type</th><th>pending</th><th>in flight</th><th>scheduled</th><th>dead</th>
        <th>oldest pending</th><th>delivery</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Dead events</h2>
    <table id="dead">
      <thead><tr><th>id</th><th>type</th><th>key</th><th>attempts</th><th>dead since</th>
        <th>last error</th><th>payload</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<footer>Figures as of <span id="figures-at">…</span>; refreshed every
  <span id="interval">…</span> s. <a href="metrics">metrics</a> ·
  <a href="readyz">readiness</a></footer>
</body>
</html>
`;
