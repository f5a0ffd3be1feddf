/**
 * The dashboard's script: polls `api/status`, draws the charts as inline SVG from the samples the
 * server keeps, and sends actions with the token kept in sessionStorage. Untrusted text (types,
 * errors, payloads) only ever reaches the page through `textContent`.
 */
export const DASHBOARD_SCRIPT = String.raw`'use strict';
(function () {
  var TOKEN_KEY = 'outbox-dispatcher-admin-token';
  var SVG = 'http://www.w3.org/2000/svg';
  var lastDeadTotal = -1;
  var lastDeadLoad = 0;
  var pollMs = 2000;

  function $(id) { return document.getElementById(id); }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  function say(text, isError) {
    var message = $('message');
    message.textContent = text;
    message.className = isError ? 'error' : '';
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function fmt(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    if (Math.abs(n) >= 100 || Number.isInteger(n)) return Math.round(n).toLocaleString('en');
    return n.toFixed(n < 10 ? 2 : 1);
  }

  function age(ms) {
    var s = ms / 1000;
    if (s < 60) return fmt(s) + ' s';
    if (s < 3600) return fmt(s / 60) + ' min';
    return fmt(s / 3600) + ' h';
  }

  function setBadge(id, text, tone) {
    var badge = $(id);
    badge.textContent = text;
    badge.className = 'badge ' + tone;
  }

  async function request(method, path, body) {
    var headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && token()) headers.authorization = 'Bearer ' + token();
    var response = await fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    var data = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error(data.error || response.status + ' ' + response.statusText);
    return data;
  }

  function drawChart(svg, samples, series) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var width = 600, height = 160, pad = 18;
    var max = 0;
    series.forEach(function (s) {
      samples.forEach(function (sample) { max = Math.max(max, sample[s.field]); });
    });
    var top = max > 0 ? max * 1.15 : 1;
    [0, 0.5, 1].forEach(function (f) {
      var y = pad + (height - 2 * pad) * (1 - f);
      var line = document.createElementNS(SVG, 'line');
      line.setAttribute('x1', '0'); line.setAttribute('x2', String(width));
      line.setAttribute('y1', String(y)); line.setAttribute('y2', String(y));
      line.setAttribute('class', 'grid');
      svg.appendChild(line);
      var label = document.createElementNS(SVG, 'text');
      label.setAttribute('x', '4'); label.setAttribute('y', String(y - 3));
      label.setAttribute('class', 'axis');
      label.textContent = fmt(top * f);
      svg.appendChild(label);
    });
    if (samples.length < 2) return;
    var t0 = samples[0].t, t1 = samples[samples.length - 1].t;
    var span = Math.max(1, t1 - t0);
    series.forEach(function (s) {
      var points = samples.map(function (sample) {
        var x = ((sample.t - t0) / span) * width;
        var y = pad + (height - 2 * pad) * (1 - sample[s.field] / top);
        return x.toFixed(1) + ',' + y.toFixed(1);
      });
      var line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', points.join(' '));
      line.setAttribute('class', s.className);
      line.setAttribute('data-series', s.field);
      svg.appendChild(line);
    });
    var caption = document.createElementNS(SVG, 'text');
    caption.setAttribute('x', String(width - 4)); caption.setAttribute('y', String(height - 4));
    caption.setAttribute('text-anchor', 'end'); caption.setAttribute('class', 'axis');
    caption.textContent = 'last ' + age(span);
    svg.appendChild(caption);
  }

  function actionButton(label, onClick) {
    var button = el('button', label);
    button.type = 'button';
    button.addEventListener('click', function () {
      button.disabled = true;
      onClick().then(function (text) {
        say(text, false);
        return refresh(true);
      }).catch(function (error) {
        say(error.message, true);
      }).finally(function () { button.disabled = false; });
    });
    return button;
  }

  function replay(selection, what) {
    return request('POST', 'api/dead/replay', selection).then(function (data) {
      return 'Requeued ' + data.requeued + ' ' + what + '.';
    });
  }

  function pause(type, paused) {
    var path = 'api/types/' + encodeURIComponent(type) + (paused ? '/pause' : '/resume');
    return request('POST', path).then(function () {
      return (paused ? 'Paused ' : 'Resumed ') + type + '.';
    });
  }

  function renderTypes(status) {
    var body = $('types').tBodies[0];
    var byType = (status.store && status.store.byType) || {};
    var types = status.types.slice();
    body.textContent = '';
    types.forEach(function (type) {
      var f = byType[type] ||
        { pending: 0, inFlight: 0, scheduled: 0, dead: 0, oldestPendingAgeMs: 0 };
      var paused = status.paused.indexOf(type) >= 0;
      var row = el('tr');
      row.dataset.type = type;
      row.appendChild(el('td', type));
      [f.pending, f.inFlight, f.scheduled, f.dead].forEach(function (n) {
        row.appendChild(el('td', fmt(n), 'num'));
      });
      row.appendChild(el('td', f.pending > 0 ? age(f.oldestPendingAgeMs) : '–', 'num'));
      row.appendChild(el('td', paused ? 'paused' : 'active', paused ? 'paused' : ''));
      var actions = el('td');
      actions.appendChild(actionButton(paused ? 'Resume' : 'Pause', function () {
        return pause(type, !paused);
      }));
      if (f.dead > 0) {
        var all = actionButton('Replay ' + f.dead + ' dead', function () {
          return replay({ type: type }, 'dead events of ' + type);
        });
        all.className = 'replay-type';
        actions.appendChild(all);
      }
      row.appendChild(actions);
      body.appendChild(row);
    });
  }

  function renderLimiter(status) {
    var body = $('limiter').tBodies[0];
    body.textContent = '';
    var rows = [['breaker failure rate', status.dispatcher.breaker.failureRate]];
    Object.keys(status.dispatcher.limiter).sort().forEach(function (key) {
      rows.push([key, status.dispatcher.limiter[key]]);
    });
    (status.sharedLimits || []).forEach(function (shared) {
      if (shared.concurrency) {
        rows.push(['shared "' + shared.name + '" permits held (limit ' + shared.concurrency.limit +
          ', ' + shared.concurrency.mode + ')', shared.concurrency.held]);
      }
      if (shared.rate) {
        rows.push(['shared "' + shared.name + '" rate per ' + fmt(shared.rate.intervalMs / 1000) +
          ' s (' + shared.rate.mode + ')', shared.rate.limit]);
      }
    });
    rows.forEach(function (pair) {
      var row = el('tr');
      row.appendChild(el('th', pair[0]));
      row.appendChild(el('td', fmt(pair[1]), 'num'));
      body.appendChild(row);
    });
  }

  async function loadDead() {
    var data = await request('GET', 'api/dead?limit=100');
    var body = $('dead').tBodies[0];
    body.textContent = '';
    data.events.forEach(function (event) {
      var row = el('tr');
      row.dataset.id = event.id;
      row.appendChild(el('td', event.id, 'num'));
      row.appendChild(el('td', event.type));
      row.appendChild(el('td', event.key === null ? '–' : event.key));
      row.appendChild(el('td', event.attempts, 'num'));
      row.appendChild(el('td', new Date(event.deadAt).toLocaleString()));
      row.appendChild(el('td', event.lastError || '–', 'error'));
      row.appendChild(el('td', event.payloadPreview, 'payload'));
      var actions = el('td');
      var button = actionButton('Replay', function () {
        return replay({ ids: [event.id] }, 'event ' + event.id);
      });
      button.className = 'replay';
      actions.appendChild(button);
      row.appendChild(actions);
      body.appendChild(row);
    });
    lastDeadLoad = Date.now();
  }

  function render(status) {
    var d = status.dispatcher;
    var store = status.store;
    setBadge('state', d.state, d.state === 'running' ? 'ok' : 'warn');
    var breaker = d.breaker.state;
    setBadge('breaker', breaker, breaker === 'closed' ? 'ok' : breaker === 'open' ? 'bad' : 'warn');
    var storeOk = status.storeError === null && d.storeReachable;
    setBadge('store-state', storeOk ? 'reachable' : 'unreachable', storeOk ? 'ok' : 'bad');
    $('delivered-total').textContent = fmt(d.counters.delivered);
    $('retried-total').textContent = fmt(d.counters.retried);
    $('dead-total').textContent = fmt(d.counters.deadLettered);
    $('pending-total').textContent = fmt(store ? store.pending : NaN);
    $('inflight-total').textContent = fmt(store ? store.inFlight : NaN);
    $('dead-now').textContent = fmt(store ? store.dead : NaN);
    $('lag').textContent = age(store ? store.oldestPendingAgeMs : 0);
    var samples = status.samples;
    var latest = samples[samples.length - 1];
    $('throughput-now').textContent = latest ? '(now ' + fmt(latest.delivered) + '/s)' : '';
    $('lag-now').textContent = latest ? '(now ' + fmt(latest.lagSeconds) + ' s)' : '';
    drawChart($('chart-throughput'), samples, [
      { field: 'delivered', className: 'ok' },
      { field: 'failed', className: 'bad' },
    ]);
    drawChart($('chart-lag'), samples, [{ field: 'lagSeconds', className: 'lag' }]);
    renderLimiter(status);
    renderTypes(status);
    $('figures-at').textContent = status.storeStatsAt
      ? new Date(status.storeStatsAt).toLocaleTimeString() : 'never';
    $('interval').textContent = fmt(status.sampleIntervalMs / 1000);
    if (!status.tokenConfigured && !$('message').textContent) {
      say('Actions are disabled: the server has no admin token configured.', true);
    }
  }

  async function refresh(forceDead) {
    var status = await request('GET', 'api/status');
    pollMs = Math.max(1000, status.sampleIntervalMs);
    render(status);
    var deadTotal = status.store ? status.store.dead : 0;
    if (forceDead || deadTotal !== lastDeadTotal || Date.now() - lastDeadLoad > 15000) {
      lastDeadTotal = deadTotal;
      await loadDead();
    }
  }

  function loop() {
    refresh(false).catch(function (error) {
      say('Cannot read the status: ' + error.message, true);
    }).finally(function () { setTimeout(loop, pollMs); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('token').value = token();
    $('token-form').addEventListener('submit', function (event) {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
      say('The token is kept in this tab until it closes.', false);
    });
    $('token-forget').addEventListener('click', function () {
      sessionStorage.removeItem(TOKEN_KEY);
      $('token').value = '';
      say('Token forgotten.', false);
    });
    loop();
  });
})();
`;
