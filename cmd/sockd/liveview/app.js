// sockd live view: the table of sockets, kept current by the event feed
// (GET /v1/events, newline-delimited JSON, resumed with ?since= after a
// disconnect), with traffic counters refreshed from GET /v1/sockets and
// the daemon's totals from /metrics. It uses sockd's public HTTP API only,
// same-origin; when the daemon wants a bearer token, the page asks for one
// and keeps it in sessionStorage (this tab only).
'use strict';

const $ = (id) => document.getElementById(id);
const sockets = new Map(); // id → Socket, as the REST API returns it
const events = new Map(); // id → its events, oldest first (bounded)
const rows = new Map(); // id → <tr>
const touched = new Map(); // id → when an event last changed it (ms)
let lastSeq = 0; // the newest event applied
let selected = '';
let token = sessionStorage.getItem('sockd-token') || '';
let tokenWaiters = [];

const EVENTS_PER_SOCKET = 100;
const KEPT_HISTORIES = 2000;
const REFRESH_MS = 3000;

class Unauthorized extends Error {}

function authHeaders() {
  return token ? { Authorization: 'Bearer ' + token } : {};
}

async function get(path) {
  const r = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  if (r.status === 401) throw new Unauthorized(path);
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r;
}

// Proxies: listed with the sockets, redrawn on proxy and fault events. A
// proxy's connections are its sockets in the table (proxyId), its faults
// those in force (with how many connections each applied to).
const proxies = new Map(); // id → Proxy, as the REST API returns it

async function listProxies() {
  const all = [];
  let pageToken = '';
  do {
    const q = new URLSearchParams({ pageSize: '1000' });
    if (pageToken) q.set('pageToken', pageToken);
    const page = await (await get('/v1/proxies?' + q)).json();
    all.push(...(page.proxies || []));
    pageToken = page.nextPageToken || '';
  } while (pageToken);
  proxies.clear();
  for (const p of all) proxies.set(p.id, p);
  renderProxies();
}

function faultLabel(f) {
  const type = (f.type || '').replace('FAULT_TYPE_', '').toLowerCase();
  const dir = (f.direction || 'DIRECTION_DOWNSTREAM').replace('DIRECTION_', '').toLowerCase();
  const p = f.probability === undefined ? '' : ' p=' + f.probability;
  return f.name + ' (' + type + ' ' + dir + p + ', applied ' + (f.applied || 0) + ')';
}

function renderProxies() {
  $('proxies-pane').hidden = proxies.size === 0;
  const tbody = $('proxies').tBodies[0];
  tbody.replaceChildren();
  for (const p of proxies.values()) {
    const tr = document.createElement('tr');
    tr.dataset.id = p.id;
    const cells = [p.name || shortID(p.id), protoName(p), p.listenAddress || '', p.upstreamAddress || '',
      p.enabled ? 'enabled' : 'disabled', String(p.connections || 0), bytes(p.bytesUpstream), bytes(p.bytesDownstream),
      (p.faults || []).map(faultLabel).join('; ')];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i >= 5 && i <= 7) td.className = 'num';
      if (i === 8) td.className = 'faults';
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }
}

async function listAll() {
  const all = [];
  let pageToken = '';
  do {
    const q = new URLSearchParams({ pageSize: '1000' });
    if (pageToken) q.set('pageToken', pageToken);
    const page = await (await get('/v1/sockets?' + q)).json();
    all.push(...(page.sockets || []));
    pageToken = page.nextPageToken || '';
  } while (pageToken);
  return all;
}

// resync replaces the table with a fresh listing, except where an event
// newer than the listing already said more.
async function resync() {
  const started = Date.now();
  const list = await listAll();
  const listed = new Set();
  for (const s of list) {
    listed.add(s.id);
    if ((touched.get(s.id) || 0) < started) upsert(s, false);
  }
  for (const id of [...sockets.keys()]) {
    if (!listed.has(id) && (touched.get(id) || 0) < started) remove(id);
  }
  render();
}

// follow reads the event feed forever, resuming after the last event it
// applied whenever the stream breaks.
async function follow() {
  for (;;) {
    try {
      const r = await get('/v1/events?' + new URLSearchParams({ since: String(lastSeq) }));
      setStatus('live');
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) onMessage(JSON.parse(line));
        }
      }
    } catch (e) {
      if (e instanceof Unauthorized) {
        await askForToken();
        continue;
      }
      console.warn('event feed:', e);
    }
    setStatus('reconnecting');
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function onMessage(msg) {
  if (msg.error) {
    console.warn('event feed error:', msg.error);
    return;
  }
  const ev = msg.result;
  if (!ev) return;
  if (ev.kind === 'EVENT_KIND_MISSED') {
    // Events were dropped (the history no longer reaches back, or this page
    // fell behind): the listing says where things stand now.
    resync().catch(console.warn);
    return;
  }
  const seq = Number(ev.seq || 0);
  if (seq <= lastSeq) return;
  lastSeq = seq;
  $('t-seq').textContent = String(seq);
  if (ev.proxy || ev.fault || ev.relay) {
    // A proxy, relay or fault changed: the listing says how it stands.
    listProxies().catch(console.warn);
  }
  const s = ev.socket;
  if (!s || !s.id) return;
  touched.set(s.id, Date.now());
  let list = events.get(s.id);
  if (!list) {
    list = [];
    events.set(s.id, list);
    trimHistories();
  }
  list.push(ev);
  if (list.length > EVENTS_PER_SOCKET) list.shift();
  if (ev.kind === 'EVENT_KIND_CLOSED') {
    remove(s.id, true);
  } else {
    upsert(s, true);
  }
  if (selected === s.id) showDetail(s.id);
  render();
}

function trimHistories() {
  if (events.size <= KEPT_HISTORIES) return;
  for (const id of events.keys()) {
    if (events.size <= KEPT_HISTORIES * 0.8) break;
    if (!sockets.has(id) && id !== selected) events.delete(id);
  }
}

const stateName = (s) => (s.state || 'STATE_UNSPECIFIED').replace('STATE_', '');
// As sockctl ls shows them: tcp4, udp6.
const protoName = (s) =>
  (s.protocol || 'PROTOCOL_TCP').replace('PROTOCOL_', '').toLowerCase() + (s.family === 'FAMILY_IPV6' ? '6' : '4');
// As sockctl ls shows them: the first 12 characters (any unique prefix works
// as an id); the full id is the cell's title and in the detail pane.
const shortID = (id) => (id.length > 12 ? id.slice(0, 12) : id);

function upsert(s, fromEvent) {
  const before = sockets.get(s.id);
  sockets.set(s.id, s);
  let tr = rows.get(s.id);
  if (!tr) {
    tr = document.createElement('tr');
    tr.dataset.id = s.id;
    for (const cls of ['id', 'name', 'proto', 'state-cell', 'addr local', 'addr remote', 'num in', 'num out', 'num age']) {
      const td = document.createElement('td');
      td.className = cls;
      tr.appendChild(td);
    }
    tr.addEventListener('click', () => showDetail(s.id));
    rows.set(s.id, tr);
    insertSorted(tr, s);
  }
  tr.classList.remove('closing');
  const c = tr.children;
  c[0].textContent = shortID(s.id);
  c[0].title = s.id;
  c[1].textContent = s.name || '';
  c[2].textContent = protoName(s);
  const state = stateName(s);
  let badge = c[3].firstChild;
  if (!badge) {
    badge = document.createElement('span');
    c[3].appendChild(badge);
  }
  badge.className = 'state ' + state;
  badge.textContent = state;
  c[4].textContent = s.localAddress || '';
  c[5].textContent = s.remoteAddress || '';
  c[6].textContent = bytes(s.bytesReceived);
  c[7].textContent = bytes(s.bytesSent);
  c[8].textContent = age(s.createTime);
  if (fromEvent && before && stateName(before) !== state) flash(tr);
}

function insertSorted(tr, s) {
  const body = document.querySelector('#sockets tbody');
  const t = s.createTime || '';
  for (const other of body.children) {
    const o = sockets.get(other.dataset.id);
    if (o && (o.createTime || '') > t) {
      body.insertBefore(tr, other);
      return;
    }
  }
  body.appendChild(tr);
}

function remove(id, animate) {
  sockets.delete(id);
  const tr = rows.get(id);
  rows.delete(id);
  if (!tr) return;
  if (!animate) {
    tr.remove();
    return;
  }
  tr.classList.add('closing');
  tr.dataset.closed = 'true';
  const badge = tr.children[3].firstChild;
  if (badge) {
    badge.className = 'state CLOSED';
    badge.textContent = 'CLOSED';
  }
  setTimeout(() => tr.remove(), 1500);
}

function flash(tr) {
  tr.classList.add('changed');
  setTimeout(() => tr.classList.remove('changed'), 800);
}

function render() {
  const f = $('filter').value.trim().toLowerCase();
  let shown = 0;
  for (const [id, tr] of rows) {
    const s = sockets.get(id);
    const hay = [id, s.name, stateName(s), protoName(s), s.localAddress, s.remoteAddress,
      ...Object.entries(s.labels || {}).map(([k, v]) => k + '=' + v)].join(' ').toLowerCase();
    const visible = !f || hay.includes(f);
    tr.hidden = !visible;
    if (visible) shown++;
  }
  $('count').textContent = sockets.size === 1 ? '1 socket' : sockets.size + ' sockets' + (shown !== sockets.size ? ' (' + shown + ' shown)' : '');
  $('empty').hidden = sockets.size > 0;
}

function bytes(v) {
  const n = Number(v || 0);
  if (n < 1024) return String(n);
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let x = n;
  let u = -1;
  do {
    x /= 1024;
    u++;
  } while (x >= 1024 && u < units.length - 1);
  return x.toFixed(x < 10 ? 1 : 0) + ' ' + units[u];
}

function age(ts) {
  if (!ts) return '';
  const secs = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (secs < 60) return secs + 's';
  if (secs < 3600) return Math.floor(secs / 60) + 'm' + String(secs % 60).padStart(2, '0') + 's';
  if (secs < 86400) return Math.floor(secs / 3600) + 'h' + String(Math.floor(secs / 60) % 60).padStart(2, '0') + 'm';
  return Math.floor(secs / 86400) + 'd';
}

function showDetail(id) {
  selected = id;
  for (const [rid, tr] of rows) tr.classList.toggle('selected', rid === id);
  const s = sockets.get(id);
  const list = events.get(id) || [];
  const snap = s || (list.length ? list[list.length - 1].socket : null);
  if (!snap) return;
  $('detail').hidden = false;
  $('detail-title').textContent = id;
  const dl = $('detail-fields');
  dl.replaceChildren();
  const labels = Object.entries(snap.labels || {}).map(([k, v]) => k + '=' + v).join(', ');
  const fields = [
    ['name', snap.name], ['state', s ? stateName(snap) : 'CLOSED'], ['protocol', protoName(snap)],
    ['family', (snap.family || 'FAMILY_IPV4').replace('FAMILY_', '')], ['labels', labels],
    ['local', snap.localAddress], ['remote', snap.remoteAddress], ['fd', snap.fd], ['owner', snap.owner],
    ['parent', snap.parentId], ['timeout', snap.timeout === undefined ? 'blocking' : snap.timeout],
    ['idle timeout', snap.idleTimeout], ['lease', snap.leaseId],
    ['bytes in / out', bytes(snap.bytesReceived) + ' / ' + bytes(snap.bytesSent)],
    ['datagrams in / out', (snap.datagramsReceived || 0) + ' / ' + (snap.datagramsSent || 0)],
    ['accepted', snap.acceptedConnections], ['connecting', snap.connecting ? 'yes' : ''],
    ['shut down', [snap.readShutdown ? 'read' : '', snap.writeShutdown ? 'write' : ''].filter(Boolean).join(' + ')],
    ['created', snap.createTime], ['last activity', snap.lastActivityTime],
  ];
  for (const [k, v] of fields) {
    if (v === undefined || v === '' || v === null) continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
  const ol = $('detail-events');
  ol.replaceChildren();
  for (const ev of list) {
    const li = document.createElement('li');
    const seq = document.createElement('span');
    seq.className = 'seq';
    seq.textContent = '#' + ev.seq + ' ' + (ev.time || '').replace(/^.*T/, '').replace(/Z$/, '') + ' ';
    const kind = document.createElement('strong');
    kind.textContent = (ev.kind || '').replace('EVENT_KIND_', '').toLowerCase();
    li.append(seq, kind);
    if (ev.detail) li.append(' ' + ev.detail);
    ol.appendChild(li);
  }
  if (!list.length) {
    const li = document.createElement('li');
    li.textContent = 'none since this page opened (the daemon keeps the most recent events only)';
    ol.appendChild(li);
  }
}

// Totals: parse the few sockd_* series the header shows from /metrics.
async function refreshTotals() {
  const text = await (await get('/metrics')).text();
  const sums = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('sockd_')) continue;
    const m = /^(\w+)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labels = '', value] = m;
    const v = Number(value);
    sums[name] = (sums[name] || 0) + v;
    const st = /state="(\w+)"/.exec(labels);
    if (name === 'sockd_sockets_open' && st) sums['open:' + st[1]] = (sums['open:' + st[1]] || 0) + v;
  }
  const show = (id, v) => ($(id).textContent = v === undefined ? '–' : String(v));
  show('t-open', sums.sockd_sockets_open);
  show('t-listening', sums['open:listening'] || 0);
  show('t-connected', sums['open:connected'] || 0);
  show('t-created', sums.sockd_sockets_created_total);
  show('t-closed', sums.sockd_sockets_closed_total);
  show('t-accepted', sums.sockd_accepted_connections_total);
  $('t-in').textContent = bytes(sums.sockd_bytes_received_total);
  $('t-out').textContent = bytes(sums.sockd_bytes_sent_total);
}

function setStatus(state) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = { live: 'live', reconnecting: 'reconnecting…', connecting: 'connecting…', unauthorized: 'token needed' }[state] || state;
}

// askForToken shows the token form and resolves once one is entered.
function askForToken() {
  setStatus('unauthorized');
  $('token-form').hidden = false;
  $('token-button').hidden = true;
  $('token').focus();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

function setToken(t) {
  token = t.trim();
  if (token) sessionStorage.setItem('sockd-token', token);
  else sessionStorage.removeItem('sockd-token');
  $('token-form').hidden = true;
  $('token-button').hidden = false;
  const waiters = tokenWaiters;
  tokenWaiters = [];
  waiters.forEach((resolve) => resolve());
  refresh();
}

// refresh brings the counters and totals up to date.
let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    await resync();
    await listProxies();
    await refreshTotals();
    // The API answers; the event stream may still be waiting for its first
    // event (the gateway sends nothing before it), which is being live too.
    if ($('status').dataset.state !== 'reconnecting') setStatus('live');
  } catch (e) {
    if (e instanceof Unauthorized) askForToken();
    else console.warn('refresh:', e);
  } finally {
    refreshing = false;
  }
}

function tick() {
  for (const [id, tr] of rows) {
    const s = sockets.get(id);
    if (s && !tr.hidden) tr.children[8].textContent = age(s.createTime);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('filter').addEventListener('input', render);
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setToken($('token').value);
  });
  $('token-button').addEventListener('click', askForToken);
  $('detail-close').addEventListener('click', () => {
    selected = '';
    $('detail').hidden = true;
    for (const tr of rows.values()) tr.classList.remove('selected');
  });
  render();
  refresh();
  follow();
  setInterval(() => {
    if (document.visibilityState === 'visible') refresh();
  }, REFRESH_MS);
  setInterval(tick, 1000);
});
