"""Phone pages of the grid-operations service: the reporter's form, the grid head's work orders,
the dispatcher's board.  Offline: Leaflet is served from ``gridtools/templates/vendor`` and the
map shows the grid polygons without tiles.

The pages are fixed HTML: no stored value is ever written into them by the server.  Their script
fetches the JSON API with the token the user pastes (kept in the browser's localStorage, or
passed once as ``#token=...``) and puts every value into the page with ``textContent`` / DOM
nodes, never ``innerHTML``, so every user field is escaped by construction.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from gridtools.incidents.access import NotFoundError

__all__ = ["page", "router"]

router = APIRouter(prefix="/incidents", tags=["pages"])

_VENDOR = {"leaflet.js": "application/javascript", "leaflet.css": "text/css"}
_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
                                      "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
                                      "base-uri 'none'; form-action 'self'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

_COMMON = r"""
const $ = (s) => document.querySelector(s);
const el = (tag, text, attrs) => { const e = document.createElement(tag); if (text !== undefined && text !== null)
  e.textContent = String(text); for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v); return e; };
if (location.hash.startsWith('#token=')) { localStorage.setItem('gt_token', decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, '', location.pathname); }
function token() { return localStorage.getItem('gt_token') || ''; }
function say(text, bad) { const m = $('#msg'); m.textContent = text; m.className = bad ? 'bad' : 'ok'; }
async function api(path, opts) {
  opts = opts || {}; opts.headers = Object.assign({'Authorization': 'Bearer ' + token()}, opts.headers || {});
  const r = await fetch(path, opts);
  const body = (r.headers.get('content-type') || '').includes('json') ? await r.json() : null;
  if (!r.ok) throw new Error((body && body.detail) || ('HTTP ' + r.status));
  return body;
}
async function photo(id) {
  const r = await fetch('/incidents/attachments/' + id, {headers: {'Authorization': 'Bearer ' + token()}});
  return r.ok ? URL.createObjectURL(await r.blob()) : null;
}
function tokenBox() {
  const box = $('#token'); box.value = token();
  box.addEventListener('change', () => { localStorage.setItem('gt_token', box.value.trim()); location.reload(); });
}
async function gridMap(id) {
  const map = L.map(id, {zoomControl: true});
  const grids = await api('/incidents/grids.geojson');
  const layer = L.geoJSON(grids, {style: {color: '#3366cc', weight: 1, fillOpacity: 0.05}}).addTo(map);
  if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds()); else map.setView([31.3, 120.6], 12);
  return map;
}
"""

_REPORT = r"""
tokenBox();
let point = null, marker = null;
(async () => {
  try {
    const types = await api('/incidents/types');
    for (const t of types) $('#type').appendChild(el('option', t.code + ' ' + t.name_zh + ' / ' + t.name_en, {value: t.code}));
    const map = await gridMap('map');
    map.on('click', (e) => setPoint(e.latlng.lat, e.latlng.lng, map));
    $('#here').addEventListener('click', () => navigator.geolocation.getCurrentPosition(
      (p) => setPoint(p.coords.latitude, p.coords.longitude, map), (e) => say('position: ' + e.message, true)));
    window.gtMap = map;
  } catch (e) { say(e.message, true); }
})();
function setPoint(lat, lon, map) {
  point = {lat: lat, lon: lon};
  if (marker) marker.setLatLng([lat, lon]); else marker = L.circleMarker([lat, lon], {radius: 8}).addTo(map);
  $('#where').textContent = lat.toFixed(6) + ', ' + lon.toFixed(6);
}
window.gtSetPoint = (lat, lon) => setPoint(lat, lon, window.gtMap);
$('#send').addEventListener('click', async () => {
  if (!point) { say('tap the map or use your position first', true); return; }
  const key = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
  try {
    const c = await api('/incidents/cases', {method: 'POST', headers: {'Content-Type': 'application/json',
      'Idempotency-Key': key}, body: JSON.stringify({type_code: $('#type').value, lon: point.lon, lat: point.lat,
      crs: 'wgs84', description: $('#desc').value})});
    const file = $('#photo').files[0];
    if (file) await api('/incidents/cases/' + c.case_id + '/attachments', {method: 'POST',
      headers: {'Content-Type': file.type || 'application/octet-stream'}, body: file});
    say('case ' + c.case_id + ' sent to ' + (c.assignee || 'the command centre'));
  } catch (e) { say(e.message, true); }
});
"""

_LIST = r"""
tokenBox();
const STEPS = {dispatched: ['handle'], registered: ['dispatch'], reported: ['register'], handled: ['verify', 'rework'],
               verified: ['close'], suspended: ['resume']};
async function step(id, action, extra) {
  try { await api('/incidents/cases/' + id + '/' + action, {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify(extra || {})}); say('case ' + id + ': ' + action + ' done'); await load(); }
  catch (e) { say(e.message, true); }
}
let map = null, dots = null;
async function load() {
  const me = await api('/incidents/me');
  $('#who').textContent = me.role + ' ' + me.name + (me.grid ? ' (grid ' + me.grid + ')' : '');
  const cases = await api('/incidents/cases?limit=200');
  const body = $('#cases tbody'); body.replaceChildren();
  if (!map) { map = await gridMap('map'); dots = L.layerGroup().addTo(map); }
  dots.clearLayers();
  for (const c of cases) {
    const tr = el('tr', undefined, {'data-case': c.case_id});
    for (const v of [c.case_id, c.type_code, c.status, c.assignee, c.deadline_at, c.description]) tr.appendChild(el('td', v));
    const pics = el('td'); tr.appendChild(pics);
    const acts = el('td'); tr.appendChild(acts);
    for (const a of (STEPS[c.status] || [])) {
      const b = el('button', a, {'data-action': a});
      b.addEventListener('click', () => step(c.case_id, a, a === 'dispatch' ? {to: $('#to') ? $('#to').value || null : null} : {}));
      acts.appendChild(b);
    }
    body.appendChild(tr);
    if (c.lat !== null) { const m = L.circleMarker([c.lat, c.lon], {radius: 6, color: '#d62728'}); 
      m.bindTooltip(el('span', c.case_id + ' ' + (c.description || ''))); dots.addLayer(m); }
    api('/incidents/cases/' + c.case_id + '/attachments').then(async (list) => {
      for (const a of list) { const url = await photo(a.attachment_id);
        if (url) pics.appendChild(el('img', undefined, {src: url, alt: 'photo', class: 'thumb'})); } }).catch(() => {});
  }
  if (window.gtBoard) await window.gtBoard();
}
load().catch((e) => say(e.message, true));
"""

_BOARD = r"""
window.gtBoard = async () => {
  const b = await api('/incidents/board');
  const dup = $('#dups'); dup.replaceChildren();
  for (const d of b.duplicates) {
    const li = el('li', 'case ' + d.case_id + ' may duplicate case ' + d.duplicate_of + ' (' + d.distance_m + ' m, '
                  + d.hours_apart + ' h) ');
    const m = el('button', 'merge', {'data-merge': d.case_id});
    m.addEventListener('click', () => step(d.case_id, 'merge', {into: d.duplicate_of})); li.appendChild(m); dup.appendChild(li);
  }
  const late = $('#late'); late.replaceChildren();
  for (const c of b.overdue) late.appendChild(el('li', 'case ' + c.case_id + ' ' + c.stage + ' overdue ' + c.overdue_hours
                                                 + ' h (' + (c.assignee || 'not dispatched') + ')'));
};
"""

_STYLE = """
body{font-family:sans-serif;margin:0;padding:8px;font-size:16px} #map{height:45vh;margin:8px 0}
input,select,textarea,button{font-size:16px;margin:4px 0;max-width:100%} textarea{width:100%}
table{border-collapse:collapse;width:100%;font-size:14px;display:block;overflow-x:auto} td{border-bottom:1px solid #ddd;padding:4px;vertical-align:top}
.thumb{max-width:80px;max-height:80px} .bad{color:#b00} .ok{color:#070}
"""


def page(title: str, body: str, script: str) -> str:
    """A phone page: the vendored Leaflet, the common script and the page's own."""
    return ("<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><link rel='stylesheet' href='/incidents/vendor/leaflet.css'>"
            f"<style>{_STYLE}</style></head><body><h2>{title}</h2>"
            "<label>token <input id='token' type='password' autocomplete='off'></label> <span id='who'></span>"
            f"<p id='msg'></p>{body}<script src='/incidents/vendor/leaflet.js'></script>"
            f"<script>{_COMMON}{script}</script></body></html>")


_TABLE = ("<div id='map'></div><table id='cases'><thead><tr><th>case</th><th>type</th><th>status</th><th>assignee"
          "</th><th>deadline</th><th>description</th><th>photos</th><th></th></tr></thead><tbody></tbody></table>")
PAGES = {
    "report": page("上报问题 Report a problem",
                   "<select id='type'></select><div id='map'></div><button id='here'>use my position</button> "
                   "<span id='where'>tap the map</span><br><textarea id='desc' rows='3' maxlength='4000' "
                   "placeholder='description'></textarea><br><input id='photo' type='file' accept='image/jpeg,image/png' "
                   "capture='environment'><br><button id='send'>send</button>", _REPORT),
    "grid": page("工单 Work orders", _TABLE, _LIST),
    "board": page("指挥调度 Dispatcher's board",
                  "<label>dispatch to <input id='to' placeholder='department:... (empty: the grid)'></label>"
                  "<h3>possible duplicates</h3><ul id='dups'></ul><h3>overdue</h3><ul id='late'></ul>" + _TABLE,
                  _BOARD + _LIST),
}


@router.get("/pages/{name}", response_class=HTMLResponse)
async def show_page(name: str):
    if name not in PAGES:
        raise NotFoundError(f"no page {name[:30]!r}; pages: {', '.join(PAGES)}")
    return HTMLResponse(PAGES[name], headers=_HEADERS)


@router.get("/vendor/{name}")
async def vendor(name: str):
    if name not in _VENDOR:
        raise NotFoundError("no such file")
    data = resources.files("gridtools").joinpath(f"templates/vendor/{name}").read_bytes()
    return Response(data, media_type=_VENDOR[name], headers={"Cache-Control": "public, max-age=86400"})
