// kuai dashboard: one EventSource on /dashboard/events; each event is a snapshot of the gateway's
// counters (the Prometheus registry as JSON) plus the requests finished since the previous event.
// Rates and percentiles are computed here from two consecutive snapshots. No library, no network
// beyond the gateway itself.
'use strict';

const HISTORY = 120;                       // seconds kept for the charts
const COLORS = ['#4fb3ff', '#3ecf8e', '#f5a623', '#c678dd', '#ff5c5c', '#56d4dd', '#e5c07b', '#98c379'];
const API_ROUTES = new Set(['chat', 'completions', 'embeddings', 'websocket', 'stage', 'flows', 'files', 'batches', 'chat_jobs']);
const state = { prev: null, history: [], requests: [], stageColors: {}, total: 0, selected: null };

const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const fmtMs = (ms) => ms == null || !isFinite(ms) ? '–' : ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : ms >= 10 ? ms.toFixed(0) + ' ms' : ms.toFixed(2) + ' ms';
const fmtNum = (n, d = 1) => n == null || !isFinite(n) ? '–' : n >= 1000 ? (n / 1000).toFixed(1) + 'k' : n.toFixed(d);

function series(snap, name) { return (snap.metrics[name] || { series: [] }).series; }
function sum(list, pick) { return list.reduce((a, s) => a + pick(s), 0); }
function matchLabels(s, want) { return Object.entries(want).every(([k, v]) => typeof v === 'function' ? v(s.labels[k]) : s.labels[k] === v); }
// Sum of a counter/gauge over the series matching `want`.
function total(snap, name, want = {}) { return sum(series(snap, name).filter((s) => matchLabels(s, want)), (s) => s.value || 0); }
// Difference between this snapshot and the previous one, per second.
function rate(name, want = {}) {
  if (!state.prev) return 0;
  const dt = (state.cur.t - state.prev.t) / 1000;
  return dt > 0 ? Math.max(0, total(state.cur, name, want) - total(state.prev, name, want)) / dt : 0;
}
// Merged histogram (cumulative buckets, count, sum) over matching series; `since` subtracts an older snapshot.
function histogram(snap, name, want = {}) {
  const out = { count: 0, sum: 0, buckets: new Map() };
  for (const s of series(snap, name).filter((x) => matchLabels(x, want))) {
    out.count += s.count; out.sum += s.sum;
    for (const [le, c] of s.buckets) out.buckets.set(le, (out.buckets.get(le) || 0) + c);
  }
  return out;
}
function histDelta(name, want, back) {
  const now = histogram(state.cur, name, want);
  const old = back ? histogram(back, name, want) : { count: 0, sum: 0, buckets: new Map() };
  const buckets = [...now.buckets.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => [le, c - (old.buckets.get(le) || 0)]);
  return { count: now.count - old.count, sum: now.sum - old.sum, buckets };
}
// Quantile from cumulative buckets (linear inside the bucket), in seconds.
function quantile(h, q) {
  if (!h.count) return null;
  const rank = q * h.count;
  let lo = 0, prevCount = 0;
  for (const [le, c] of h.buckets) {
    if (c >= rank) return lo + (le - lo) * ((rank - prevCount) / Math.max(1, c - prevCount));
    lo = le; prevCount = c;
  }
  return lo;
}
// The snapshot about `seconds` ago (for percentiles over a window), or the oldest we have.
function snapshotAgo(seconds) {
  const target = state.cur.t - seconds * 1000;
  let best = null;
  for (const h of state.history) if (h.snap.t <= target) best = h.snap;
  return best || (state.history[0] && state.history[0].snap);
}

// ---- charts (canvas, no library) -------------------------------------------------------------
function canvasCtx(id) {
  const c = $(id), ratio = window.devicePixelRatio || 1, w = c.clientWidth, h = c.height;
  if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.style.height = h + 'px'; }
  const g = c.getContext('2d');
  g.setTransform(c.width / w, 0, 0, c.width / w, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui'; g.fillStyle = '#8a96a3'; g.strokeStyle = '#2a3440';
  return { g, w, h };
}
function axis(g, w, h, max, unit, left) {
  for (let i = 0; i <= 2; ++i) {
    const y = 8 + (h - 24) * (1 - i / 2);
    g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
    g.fillText(fmtNum(max * i / 2, max < 10 ? 1 : 0) + unit, 0, y + 4);
  }
}
function drawTraffic() {
  const { g, w, h } = canvasCtx('chart-traffic');
  const pts = state.history, left = 48, n = HISTORY, bw = (w - left) / n;
  const maxRps = Math.max(1, ...pts.map((p) => p.rps));
  const maxLat = Math.max(1, ...pts.map((p) => p.p99 || 0));
  axis(g, w, h, maxRps, '/s', 0);
  pts.forEach((p, i) => {
    const x = left + (n - pts.length + i) * bw, bh = (h - 24) * p.rps / maxRps;
    g.fillStyle = '#2c5d85'; g.fillRect(x, 8 + (h - 24) - bh, Math.max(1, bw - 1), bh);
  });
  for (const [key, color] of [['p50', '#3ecf8e'], ['p99', '#f5a623']]) {
    g.strokeStyle = color; g.beginPath();
    pts.forEach((p, i) => {
      if (p[key] == null) return;
      const x = left + (n - pts.length + i + 0.5) * bw, y = 8 + (h - 24) * (1 - p[key] / maxLat);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
  }
  g.fillStyle = '#8a96a3'; g.fillText('latency max ' + fmtMs(maxLat), w - 130, h - 4);
}
function drawStacked(id, pts, keys, colors, unit) {
  const { g, w, h } = canvasCtx(id);
  const left = 48, n = HISTORY, bw = (w - left) / n;
  const max = Math.max(1, ...pts.map((p) => keys.reduce((a, k) => a + (p[k] || 0), 0)));
  axis(g, w, h, max, unit, 0);
  pts.forEach((p, i) => {
    let y = 8 + (h - 24);
    const x = left + (n - pts.length + i) * bw;
    keys.forEach((k) => {
      const v = p[k] || 0, bh = (h - 24) * v / max;
      g.fillStyle = colors[k]; g.fillRect(x, y - bh, Math.max(1, bw - 1), bh); y -= bh;
    });
  });
}
function drawEngine() {
  const { g, w, h } = canvasCtx('chart-engine');
  const pts = state.history, left = 48, n = HISTORY, bw = (w - left) / n;
  const maxT = Math.max(1, ...pts.map((p) => p.tps || 0)), maxB = Math.max(1, ...pts.map((p) => p.batch || 0));
  axis(g, w, h, maxT, '', 0);
  pts.forEach((p, i) => {
    const x = left + (n - pts.length + i) * bw, bh = (h - 24) * (p.tps || 0) / maxT;
    g.fillStyle = '#2c5d85'; g.fillRect(x, 8 + (h - 24) - bh, Math.max(1, bw - 1), bh);
  });
  g.strokeStyle = '#c678dd'; g.beginPath();
  pts.forEach((p, i) => {
    const x = left + (n - pts.length + i + 0.5) * bw, y = 8 + (h - 24) * (1 - (p.batch || 0) / maxB);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke();
  g.fillStyle = '#8a96a3'; g.fillText('batch max ' + maxB.toFixed(0), w - 100, h - 4);
}

// ---- tables ----------------------------------------------------------------------------------
function fillTable(id, rows) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren(...rows.map((cells) => {
    const tr = el('tr');
    for (const c of cells) tr.append(c instanceof Node ? c : el('td', String(c)));
    return tr;
  }));
}
function bars(id, entries) {
  const max = Math.max(1, ...entries.map((e) => e[1]));
  $(id).replaceChildren(...entries.map(([name, v]) => {
    const row = el('div', undefined, 'bar'), fill = el('div', undefined, 'fill');
    fill.style.width = (160 * v / max) + 'px';
    row.append(el('span', name), fill, el('span', String(Math.round(v))));
    row.dataset.name = name; row.dataset.value = String(v);
    return row;
  }));
}
function stageColor(name) {
  if (!state.stageColors[name]) state.stageColors[name] = COLORS[Object.keys(state.stageColors).length % COLORS.length];
  return state.stageColors[name];
}

// ---- one snapshot ----------------------------------------------------------------------------
function onSnapshot(snap) {
  state.cur = snap;
  $('pipeline').textContent = snap.stages.length ? 'pipeline: ' + snap.stages.join(' → ') : 'pipeline: (no stage)';
  const api = { route: (r) => API_ROUTES.has(r) };
  const window10 = snapshotAgo(10);
  const lat = histDelta('kuai_request_duration_seconds', api, window10);
  const ttfb = histDelta('kuai_request_first_byte_seconds', api, window10);
  const point = {
    rps: rate('kuai_requests_total', api),
    errors: rate('kuai_requests_total', { route: api.route, status: (s) => Number(s) >= 400 }),
    p50: quantile(lat, 0.5) * 1000 || null, p99: quantile(lat, 0.99) * 1000 || null,
    ttfb: quantile(ttfb, 0.5) * 1000 || null,
    tps: rate('kuai_engine_generated_tokens_total'), batch: total(snap, 'kuai_engine_running_sequences'),
  };
  const stageNames = [...new Set(series(snap, 'kuai_stage_duration_seconds').map((s) => s.labels.stage))];
  for (const st of stageNames) {
    if (!state.prev) { point['stage:' + st] = 0; continue; }
    const dt = (snap.t - state.prev.t) / 1000;
    point['stage:' + st] = Math.max(0, histogram(snap, 'kuai_stage_duration_seconds', { stage: st }).sum -
      histogram(state.prev, 'kuai_stage_duration_seconds', { stage: st }).sum) * 1000 / dt;
  }
  state.history.push({ snap, ...point });
  if (state.history.length > HISTORY) state.history.shift();

  $('kpi-rps').textContent = fmtNum(point.rps);
  $('kpi-p50').textContent = fmtMs(point.p50);
  $('kpi-p99').textContent = fmtMs(point.p99);
  $('kpi-ttfb').textContent = fmtMs(point.ttfb);
  $('kpi-errors').textContent = fmtNum(point.errors);
  $('kpi-inflight').textContent = String(total(snap, 'kuai_requests_in_flight'));
  $('kpi-total').textContent = String(Math.round(total(snap, 'kuai_requests_total', api)));

  fillTable('errors', series(snap, 'kuai_requests_total').filter((s) => API_ROUTES.has(s.labels.route) && Number(s.labels.status) >= 400 && s.value > 0)
    .map((s) => [s.labels.route, s.labels.status, Math.round(s.value)]));

  // Stages: time stacked per stage; tokens saved from each stage's own counter.
  const saved = { slim: 'kuai_slim_tokens_saved_total', window: 'kuai_window_tokens_saved_total',
                  summarize: 'kuai_summarize_tokens_saved_total', extract: 'kuai_extract_tokens_saved_total' };
  const colors = {};
  for (const st of stageNames) colors['stage:' + st] = stageColor(st);
  drawStacked('chart-stages', state.history, stageNames.map((s) => 'stage:' + s), colors, '');
  $('stage-legend').replaceChildren(...stageNames.map((s) => {
    const span = el('span'), dot = el('i'); dot.style.background = stageColor(s); span.append(dot, s); return span;
  }));
  fillTable('stages', stageNames.map((st) => {
    const hst = histogram(snap, 'kuai_stage_duration_seconds', { stage: st });
    const plain = st.replace(/^kuai-stage-/, '');
    return [plain, hst.count, hst.count ? (hst.sum * 1000 / hst.count).toFixed(3) : '–',
            saved[plain] ? Math.round(total(snap, saved[plain])) : '–'];
  }));

  // Cache.
  const lookups = series(snap, 'kuai_cache_lookups_total');
  bars('cache-bars', lookups.length ? lookups.map((s) => [s.labels.result, s.value]) : [['hit', 0], ['miss', 0]]);
  fillTable('cache-guards', series(snap, 'kuai_cache_refusals_total').map((s) => [s.labels.guard, Math.round(s.value)]));
  $('cache-saved').textContent = fmtMs(total(snap, 'kuai_cache_latency_saved_seconds_total') * 1000);
  const hits = state.requests.filter((r) => (r.kuai['x-kuai-cache'] || '').startsWith('hit'));
  $('cache-hit-ms').textContent = hits.length ? fmtMs(hits.reduce((a, r) => a + r.total_ms, 0) / hits.length) : '–';

  // Routing.
  const byTarget = {};
  for (const s of series(snap, 'kuai_route_decisions_total')) byTarget[s.labels.target] = (byTarget[s.labels.target] || 0) + s.value;
  bars('route-bars', Object.entries(byTarget));
  $('route-escalations').textContent = String(Math.round(total(snap, 'kuai_route_escalations_total')));

  // Upstream backends.
  const backends = [...new Set(series(snap, 'kuai_upstream_request_seconds').map((s) => s.labels.backend))];
  fillTable('backends', backends.map((b) => {
    const h = histogram(snap, 'kuai_upstream_request_seconds', { backend: b });
    const t = histogram(snap, 'kuai_upstream_ttft_seconds', { backend: b });
    const sorted = (x) => ({ ...x, buckets: [...x.buckets.entries()].sort((a, c) => a[0] - c[0]) });
    return [b, h.count, fmtMs(quantile(sorted(h), 0.5) * 1000), fmtMs(quantile(sorted(h), 0.99) * 1000),
            t.count ? fmtMs(quantile(sorted(t), 0.5) * 1000) : '–', Math.round(total(snap, 'kuai_upstream_errors_total', { backend: b }))];
  }));
  const models = [...new Set(series(snap, 'kuai_upstream_hedges_total').map((s) => s.labels.model))];
  fillTable('models', models.map((m) => [m, Math.round(total(snap, 'kuai_upstream_hedges_total', { model: m })),
    Math.round(total(snap, 'kuai_upstream_hedge_wins_total', { model: m })), Math.round(total(snap, 'kuai_upstream_fallbacks_total', { model: m }))]));

  // Engine.
  const hasEngine = !!snap.metrics['kuai_engine_generated_tokens_total'];
  $('engine-panel').hidden = !hasEngine;
  if (hasEngine) {
    drawEngine();
    $('engine-tps').textContent = fmtNum(point.tps);
    $('engine-running').textContent = String(total(snap, 'kuai_engine_running_sequences'));
    $('engine-waiting').textContent = String(total(snap, 'kuai_engine_waiting_sequences'));
    $('engine-kv').textContent = [total(snap, 'kuai_kv_blocks_used'), total(snap, 'kuai_kv_blocks_cached'), total(snap, 'kuai_kv_blocks_free')].map((v) => Math.round(v)).join(' / ');
    const q = total(snap, 'kuai_kv_prefix_query_tokens_total');
    $('engine-prefix').textContent = q ? (100 * total(snap, 'kuai_kv_prefix_hit_tokens_total') / q).toFixed(1) + '%' : '–';
  }

  // Async jobs (when jobs.dir is set).
  const hasJobs = !!snap.metrics['kuai_jobs_lines'];
  $('jobs-panel').hidden = !hasJobs;
  if (hasJobs) {
    bars('jobs-bars', series(snap, 'kuai_jobs_lines').map((s) => [s.labels.state, s.value]));
    const q = histogram(snap, 'kuai_jobs_queue_latency_seconds');
    const qs = { ...q, buckets: [...q.buckets.entries()].sort((a, c) => a[0] - c[0]) };
    $('jobs-latency').textContent = fmtMs(quantile(qs, 0.5) * 1000) + ' / ' + fmtMs(quantile(qs, 0.99) * 1000);
    $('jobs-given-up').textContent = String(Math.round(total(snap, 'kuai_jobs_given_up_total')));
    fillTable('jobs-done', series(snap, 'kuai_jobs_lines_done_total').map((s) => [s.labels.result, Math.round(s.value)]));
    fillTable('jobs-webhooks', series(snap, 'kuai_jobs_webhook_deliveries_total').map((s) => [s.labels.result, Math.round(s.value)]));
  }

  // Requests.
  for (const r of snap.requests) state.requests.unshift(r);
  const flowRuns = state.requests.filter((r) => /^\/v1\/flows\/.*runs$/.test(r.path) && r.method === 'POST');
  $('flows-panel').hidden = flowRuns.length === 0;
  fillTable('flows', flowRuns.map((r) => {
    const t = Object.fromEntries(timings(r).map((x) => [x.name, x.dur]));
    const name = r.path.split('/')[3] === 'runs' ? '(inline)' : r.path.split('/')[3];
    const sum = t['flow-steps-sum'], wall = t['total'] || r.total_ms;
    return [new Date(r.t).toLocaleTimeString(), name, r.kuai['x-kuai-flow-status'] || (r.stream ? 'stream' : String(r.status)),
            fmtMs(wall), fmtMs(t['flow-critical-path']), fmtMs(sum), sum && wall ? (sum / wall).toFixed(2) + '×' : '–'];
  }));
  state.requests.length = Math.min(state.requests.length, 200);
  if (snap.requests.length || !state.prev) renderRequests(snap.show_content);
  drawTraffic();
  state.prev = snap;
}

function timings(r) {
  // "name;dur=1.234;desc=\"x\", …" → [{name, dur, desc}]
  return (r.server_timing || '').split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
    const parts = p.split(';'), out = { name: parts[0], dur: 0, desc: '' };
    for (const kv of parts.slice(1)) {
      const [k, v] = kv.split('=');
      if (k === 'dur') out.dur = parseFloat(v); else if (k === 'desc') out.desc = (v || '').replace(/"/g, '');
    }
    return out;
  });
}
function renderRequests(showContent) {
  $('requests-note').textContent = 'the last ' + state.requests.length + ' requests, newest first; click one for its waterfall' +
    (showContent ? '' : ' (message text hidden: dashboard.show_content is off)');
  fillTable('requests', state.requests.map((r) => {
    const tr = [new Date(r.t).toLocaleTimeString(), r.method + ' ' + r.path, r.model || '–', r.tenant,
                el('td', String(r.status), 's' + String(r.status)[0]), fmtMs(r.total_ms), fmtMs(r.first_byte_ms),
                timings(r).filter((t) => t.name !== 'total').map((t) => t.name.replace(/^kuai-stage-/, '')).join(' ')];
    return tr;
  }));
  [...$('requests').querySelectorAll('tbody tr')].forEach((tr, i) => {
    tr.dataset.seq = String(state.requests[i].seq);
    tr.addEventListener('click', () => showDetail(state.requests[i]));
  });
}
// Waterfall: the stages run one after another, then the upstream; bars on the request's own time axis.
function showDetail(r) {
  const d = $('detail');
  d.hidden = false;
  const parts = [el('h2', r.method + ' ' + r.path + ' · ' + r.status + ' · ' + fmtMs(r.total_ms))];
  let at = 0;
  const total = Math.max(r.total_ms, 0.001);
  for (const t of timings(r).filter((x) => x.name !== 'total')) {
    const row = el('div', undefined, 'wf'), seg = el('div', undefined, 'seg');
    seg.style.left = (100 * at / total) + '%';
    seg.style.width = Math.max(0.5, 100 * t.dur / total) + '%';
    seg.style.background = t.name === 'upstream' ? '#3ecf8e' : stageColor(t.name);
    row.append(seg, el('span', t.name.replace(/^kuai-stage-/, '') + ' ' + fmtMs(t.dur) + (t.desc ? ' (' + t.desc + ')' : ''), 'name'));
    parts.push(row);
    if (t.name !== 'upstream') at += t.dur;
  }
  const kv = Object.entries(r.kuai);
  if (kv.length) parts.push(el('h2', 'what the stages did'), el('pre', kv.map(([k, v]) => k + ': ' + v).join('\n')));
  if (r.error) parts.push(el('h2', 'error'), el('pre', r.error));
  if (r.content) parts.push(el('h2', 'last user message'), el('pre', r.content));
  d.replaceChildren(...parts);
}

function connect() {
  const es = new EventSource('/dashboard/events');
  es.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'conn on'; };
  es.onmessage = (e) => onSnapshot(JSON.parse(e.data));
  es.onerror = () => { $('conn').textContent = 'reconnecting…'; $('conn').className = 'conn off'; };
}
connect();
