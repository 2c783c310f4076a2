"""The review page: one HTML document with its style and script inline (nothing is fetched
from anywhere but the server that serves it). Text from the build or the overrides file is
put in with ``textContent``, never as markup."""
from __future__ import annotations

import json

_PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sen12stac review</title>
<style>
 body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
 h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.15em; margin: 1.4em 0 .4em; }
 table { border-collapse: collapse; width: 100%; }
 th, td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top; }
 th button { font: inherit; font-weight: 600; background: none; border: 0; cursor: pointer; padding: 0; }
 tr.rejected td.status { color: #b00; font-weight: 600; } tr.kept td.status { color: #070; font-weight: 600; }
 tr.selected { background: #fff6d8; }
 td.num { font-variant-numeric: tabular-nums; text-align: right; }
 img.preview { height: 64px; image-rendering: pixelated; display: block; }
 .reasons { color: #b00; font-size: .9em; }
 .decision { font-size: .9em; } .decision.reject { color: #b00; } .decision.accept { color: #070; }
 input.note { width: 12em; }
 pre#command { background: #f4f4f4; padding: .5em; white-space: pre-wrap; word-break: break-all; }
 #detail { border-top: 3px solid #888; margin-top: 1.5em; padding-top: .5em; }
 #detail img.large { max-width: 100%; image-rendering: pixelated; }
 .grid { display: grid; gap: 3px; margin: .5em 0; }
 .cell { width: 72px; height: 72px; border: 3px solid #070; position: relative; font-size: 11px; cursor: pointer; overflow: hidden; background: #eee; }
 .cell.rejected { border-color: #b00; background: repeating-linear-gradient(45deg, #fdd, #fdd 6px, #fff 6px, #fff 12px); }
 .cell.override { outline: 3px dashed #06c; }
 .cell.selected { box-shadow: 0 0 0 3px #fc0; }
 .cell img { width: 100%; height: 100%; object-fit: cover; display: block; }
 .cell span { position: absolute; left: 1px; top: 1px; background: rgba(255,255,255,.85); padding: 0 2px; }
 #status { position: sticky; top: 0; background: #ffe; padding: 2px 4px; min-height: 1.2em; }
</style>
</head>
<body>
<div id="status" role="status"></div>
<h1>Review <span id="build"></span></h1>
<p>Decisions are written to <code id="overrides-path"></code> (the format <code>sen12stac build --overrides</code> reads). Reviewer:
 <input id="who" size="16" aria-label="reviewer"> Rebuild with them:</p>
<pre id="command"></pre>
<div id="seasons"></div>
<section id="detail" hidden>
 <h2 id="detail-title"></h2>
 <img class="large" id="detail-preview" alt="S1 | S2 preview">
 <p id="detail-info"></p>
 <div id="pair-form" hidden>
  Patch <strong id="pair-id"></strong> <span id="pair-reasons" class="reasons"></span>
  <input id="pair-note" class="note" placeholder="note (why)">
  <button id="pair-accept">Accept patch</button> <button id="pair-reject">Reject patch</button> <button id="pair-clear">Clear</button>
 </div>
 <div class="grid" id="grid"></div>
</section>
<script>
'use strict';
const TOKEN = __TOKEN__;
const METRICS = ["cloud_fraction", "s1_nodata_fraction", "s2_nodata_fraction", "haze_index", "colour_cast"];
let state = null, sortBy = {}, current = null, selectedPair = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
function fmt(v) { return v == null ? '' : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3)); }
function say(text) { document.getElementById('status').textContent = text; }
function decisionText(d) {
  if (!d) return '';
  return `${d.decision}ed by hand` + (d.who ? ` (${d.who}` + (d.when ? `, ${d.when}` : '') + ')' : '') + (d.note ? `: ${d.note}` : '');
}

async function load() {
  const r = await fetch('api/state', {cache: 'no-store'});
  state = await r.json();
  document.getElementById('build').textContent = state.build;
  document.getElementById('overrides-path').textContent = state.overrides;
  document.getElementById('command').textContent = state.command;
  const who = document.getElementById('who'); if (!who.value) who.value = state.who || '';
  render();
}

async function decide(id, decision, note) {
  const r = await fetch('api/decide', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Review-Token': TOKEN},
    body: JSON.stringify({id, decision, note, who: document.getElementById('who').value})});
  const body = await r.json();
  if (!r.ok) { say('not saved: ' + body.error); return; }
  state.decisions = body.decisions; state.command = body.command;
  document.getElementById('command').textContent = body.command;
  say(decision === 'clear' ? `saved: ${id} cleared in ${body.overrides}` : `saved: ${id} ${decision} in ${body.overrides}`);
  render();
  if (current) await openScene(current, true);
}

function render() {
  const root = document.getElementById('seasons');
  root.replaceChildren();
  for (const season of state.seasons) {
    const scenes = season.scenes.map((s) => ({...s, override: state.decisions[s.scene_id] || null}));
    const key = sortBy[season.set];
    if (key) scenes.sort((a, b) => {
      const x = key.name === 'patches' ? a.patches : a.metrics[key.name], y = key.name === 'patches' ? b.patches : b.metrics[key.name];
      if (x == null && y == null) return 0; if (x == null) return 1; if (y == null) return -1;
      return key.dir * (x - y);
    });
    const head = el('tr', {}, el('th', {text: 'S1 | S2'}), el('th', {text: 'scene'}), el('th', {text: 'QC'}), el('th', {text: 'reasons'}),
      ...[...METRICS, 'patches'].map((m) => el('th', {}, el('button', {'data-sort': m, text: m.replace(/_/g, ' ') + (key && key.name === m ? (key.dir > 0 ? ' \u25b2' : ' \u25bc') : ''),
        onclick: () => { const k = sortBy[season.set]; sortBy[season.set] = {name: m, dir: k && k.name === m ? -k.dir : 1}; render(); }}))),
      el('th', {text: 'decision'}));
    const body = el('tbody');
    for (const s of scenes) {
      const kept = s.status === 'published';
      const note = el('input', {class: 'note', placeholder: 'note (why)', 'aria-label': 'note for ' + s.scene_id});
      const row = el('tr', {'data-scene': s.scene_id, class: (kept ? 'kept' : 'rejected') + (current === s.scene_id ? ' selected' : '')},
        el('td', {}, s.preview ? el('img', {class: 'preview', src: s.preview, loading: 'lazy', alt: 'S1 | S2 of ' + s.scene_id}) : el('span', {text: 'no preview'})),
        el('td', {}, el('a', {href: '#' + s.scene_id, class: 'open', text: s.scene_id, onclick: (e) => { e.preventDefault(); openScene(s.scene_id); }})),
        el('td', {class: 'status', text: kept ? 'kept' : s.status}),
        el('td', {class: 'reasons', text: (s.reasons || []).join('; ')}),
        ...METRICS.map((m) => el('td', {class: 'num', 'data-metric': m, text: fmt(s.metrics[m])})),
        el('td', {class: 'num', text: String(s.patches)}),
        el('td', {}, el('div', {class: 'decision ' + (s.override ? s.override.decision : ''), text: decisionText(s.override)}), note,
          el('button', {class: 'accept', text: 'Accept', onclick: () => decide(s.scene_id, 'accept', note.value)}), ' ',
          el('button', {class: 'reject', text: 'Reject', onclick: () => decide(s.scene_id, 'reject', note.value)}), ' ',
          s.override ? el('button', {class: 'clear', text: 'Clear', onclick: () => decide(s.scene_id, 'clear', '')}) : null));
      body.append(row);
    }
    const n = season.scenes.length, k = season.scenes.filter((s) => s.status === 'published').length;
    root.append(el('section', {class: 'season', 'data-set': season.set},
      el('h2', {text: `${season.set}: ${k} of ${n} scenes kept`}), el('table', {}, el('thead', {}, head), body)));
  }
}

async function openScene(id, keepPair) {
  current = id;
  if (!keepPair) selectedPair = null;
  const r = await fetch('api/scene/' + encodeURIComponent(id), {cache: 'no-store'});
  const s = await r.json();
  const d = document.getElementById('detail'); d.hidden = false;
  document.getElementById('detail-title').textContent = `${s.scene_id}: ${s.status === 'published' ? 'kept' : s.status}`;
  const img = document.getElementById('detail-preview');
  if (s.preview) { img.src = s.preview; img.hidden = false; } else img.hidden = true;
  const rejected = s.patch_list.filter((p) => !p.accepted).length;
  document.getElementById('detail-info').textContent = s.tiled
    ? `${s.patch_list.length} patch positions, ${s.patch_list.length - rejected} published, ${rejected} rejected (red). Click a patch to accept or reject it.`
    : 'Not tiled: the scene was rejected before its patches were cut. Accept it and rebuild to see them.';
  const grid = document.getElementById('grid');
  grid.style.gridTemplateColumns = `repeat(${Math.max(s.cols, 1)}, 72px)`;
  grid.replaceChildren(...s.patch_list.map((p) => {
    const cls = 'cell ' + (p.accepted ? 'accepted' : 'rejected') + (p.decision ? ' override' : '') + (selectedPair === p.pair_id ? ' selected' : '');
    const cell = el('div', {class: cls, 'data-pair': p.pair_id, title: p.pair_id + (p.reasons.length ? ': ' + p.reasons.join('; ') : ''),
      style: `grid-row: ${p.row + 1}; grid-column: ${p.col + 1}`, onclick: () => selectPair(p)},
      p.thumbnail ? el('img', {src: p.thumbnail, alt: p.pair_id}) : null, el('span', {text: 'p' + p.n + (p.accepted ? '' : ' \u2717')}));
    return cell;
  }));
  if (selectedPair) { const p = s.patch_list.find((q) => q.pair_id === selectedPair); if (p) selectPair(p); }
  render();
}

function selectPair(p) {
  selectedPair = p.pair_id;
  document.querySelectorAll('.cell.selected').forEach((c) => c.classList.remove('selected'));
  const c = document.querySelector(`.cell[data-pair="${CSS.escape(p.pair_id)}"]`); if (c) c.classList.add('selected');
  document.getElementById('pair-form').hidden = false;
  document.getElementById('pair-id').textContent = p.pair_id;
  document.getElementById('pair-reasons').textContent = (p.accepted ? 'published' : 'rejected: ' + p.reasons.join('; ')) + (p.decision ? ' \u2014 ' + decisionText(p.decision) : '');
}
for (const what of ['accept', 'reject', 'clear']) {
  document.getElementById('pair-' + what).addEventListener('click', () => {
    if (selectedPair) decide(selectedPair, what, document.getElementById('pair-note').value);
  });
}
load().catch((e) => say('cannot load the build: ' + e));
</script>
</body>
</html>
"""


def page_html(token: str) -> str:
    return _PAGE.replace("__TOKEN__", json.dumps(token))
