"""The live view page (one self-contained HTML document, no external assets: a field device has no
internet). Layout contract (tests and screenshots rely on it): the PSNR banner fills the top
``BANNER_PX`` pixels; the frame is drawn at its natural size with its top-left corner at
(``FRAME_LEFT``, ``FRAME_TOP``); the figures sit to its right.

The page arrives with the figures of the moment built in and the newest frame as its image (so it is
complete at its load event: screenshots and slow links see a full page), then polls ``/stats.json``
twice a second and reloads ``/frame.jpg`` as soon as the previous one has loaded (at most ``max_fps``):
a slow browser simply sees fewer frames. ``/stream.mjpg`` is the same picture as MJPEG for players
(VLC, ffplay) and ``<img>`` tags.
"""

from __future__ import annotations

import json
from typing import Any

BANNER_PX = 44
FRAME_LEFT = 8
FRAME_TOP = BANNER_PX + 8

BANNER_CSS = f"""
body {{ margin: 0; background: #16181c; color: #e8e8e8; font: 14px/1.4 sans-serif; }}
#psnr {{ position: absolute; left: 0; top: 0; right: 0; height: {BANNER_PX}px; line-height: {BANNER_PX}px;
        padding: 0 12px; font: bold 22px/{BANNER_PX}px monospace; white-space: nowrap; overflow: hidden;
        background: #2b2f36; color: #e8e8e8; }}
#psnr.ok {{ background: #1f5c2e; color: #ffffff; }}
#psnr.below_min {{ background: #8a6d00; color: #ffffff; }}
#psnr.failing {{ background: #9b1c1c; color: #ffffff; }}
"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>edgesr live view</title>
<style>__BANNER_CSS__
#main { position: absolute; left: __FRAME_LEFT__px; top: __FRAME_TOP__px; display: flex; gap: 16px;
        align-items: flex-start; }
#frame { display: block; image-rendering: auto; }
#side { min-width: 320px; }
table { border-collapse: collapse; }
td, th { padding: 1px 8px; text-align: right; font-family: monospace; }
td:first-child, th:first-child { text-align: left; }
.muted { color: #9aa0a6; }
label { user-select: none; }
</style></head>
<body>
<div id="psnr">PSNR vs FP32: waiting for the first check</div>
<div id="main">
  <img id="frame" alt="upscaled frame" src="/frame.jpg?view=__VIEW__&amp;t=0">
  <div id="side">
    <div id="title" class="muted"></div>
    <table id="figures"></table>
    <h4>latency (ms)</h4>
    <table id="latency"><tr><th>stage</th><th>p50</th><th>p95</th><th>p99</th></tr></table>
    <h4>last PSNR checks vs FP32 (dB)</h4>
    <div id="checks" class="muted">none yet</div>
    <p><label><input type="checkbox" id="compare"> side by side with bicubic</label></p>
    <p class="muted">MJPEG: <a href="/stream.mjpg">/stream.mjpg</a> &middot;
      figures: <a href="/stats.json">/stats.json</a></p>
  </div>
</div>
<script>
"use strict";
const MAX_FPS = __MAX_FPS__;
const $ = (id) => document.getElementById(id);
const db = (v) => v === null || v === undefined ? "-" : (v === "inf" ? "identical" : Number(v).toFixed(2) + " dB");
const num = (v, d) => v === null || v === undefined ? "-" : Number(v).toFixed(d);
function row(cells, tag) {
  const tr = document.createElement("tr");
  for (const c of cells) { const td = document.createElement(tag || "td"); td.textContent = c; tr.appendChild(td); }
  return tr;
}
function banner(s) {
  const p = s.psnr, el = $("psnr");
  if (s.check_every === 0 || s.checks_note.startsWith("checks off")) {
    el.textContent = "PSNR vs FP32: " + s.checks_note; el.className = ""; return;
  }
  if (!p.checks) { el.textContent = "PSNR vs FP32: waiting for the first check"; el.className = ""; return; }
  const dot = " \\u00b7 ";
  let text = "PSNR vs FP32: last " + db(p.last_db) + dot + "mean " + db(p.mean_db) + dot + "worst " + db(p.worst_db);
  if (s.state === "failing") text += dot + "FAILING (mean < --fail-below " + s.fail_below + ")";
  else if (s.state === "below_min") text += dot + "BELOW --min-psnr " + s.min_psnr;
  else text += dot + "OK";
  el.textContent = text; el.className = s.state;
}
function show(s) {
  banner(s);
  $("title").textContent = s.title + (s.ended ? " (ended: " + s.ended + ")" : "");
  const f = $("figures"); f.replaceChildren();
  f.appendChild(row(["fps", num(s.fps, 1) + " (steady " + num(s.steady_fps, 1) + ")"]));
  f.appendChild(row(["frames in / out", s.frames_in + " / " + s.frames_out]));
  f.appendChild(row(["dropped / skipped", s.dropped + " / " + s.skipped]));
  f.appendChild(row(["size in -> out", (s.input_hw || ["-"]).join("x") + " -> " + (s.output_hw || ["-"]).join("x")]));
  f.appendChild(row(["checks (skipped busy)", s.psnr.checks + " (" + s.psnr.skipped_reference_busy + ")"]));
  const below = s.min_psnr === null ? "" : " (< " + s.min_psnr + ")";
  f.appendChild(row(["below --min-psnr", s.psnr.below_min_psnr + below]));
  f.appendChild(row(["--fail-below", s.fail_below === null ? "off" : String(s.fail_below)]));
  const l = $("latency"); while (l.rows.length > 1) l.deleteRow(1);
  for (const [stage, v] of Object.entries(s.latency_ms)) {
    l.appendChild(row([stage, num(v.p50, 1), num(v.p95, 1), num(v.p99, 1)]));
  }
  const checks = s.psnr.values.map((c) => "#" + c.frame + ": " + db(c.psnr_db));
  $("checks").textContent = checks.length ? checks.join(", ") : "none yet";
}
async function poll() {
  try { const r = await fetch("/stats.json", {cache: "no-store"}); if (r.ok) show(await r.json()); } catch (e) {}
  setTimeout(poll, 500);
}
let last = 0;
function next() {
  const wait = Math.max(0, 1000 / MAX_FPS - (performance.now() - last));
  setTimeout(() => {
    last = performance.now();
    $("frame").src = "/frame.jpg?view=" + ($("compare").checked ? "compare" : "sr") + "&t=" + Date.now();
  }, wait);
}
$("compare").checked = __VIEW_JS__ === "compare";
show(__INITIAL__);  // the figures as of this page load: complete at the load event, no flash of empty tables
$("frame").onload = next;
$("frame").onerror = () => setTimeout(next, 500);
if ($("frame").complete) next();
setTimeout(poll, 500);
</script>
</body></html>
"""


def render_page(max_fps: float, figures: dict[str, Any], view: str = "sr") -> bytes:
    """The page with the figures of the moment built in (``figures``: what ``/stats.json`` says now)."""
    initial = json.dumps(figures).replace("</", "<\\/")
    html = (
        PAGE.replace("__BANNER_CSS__", BANNER_CSS)
        .replace("__FRAME_LEFT__", str(FRAME_LEFT))
        .replace("__FRAME_TOP__", str(FRAME_TOP))
        .replace("__MAX_FPS__", f"{max_fps:g}")
        .replace("__VIEW_JS__", json.dumps(view))
        .replace("__VIEW__", view)
        .replace("__INITIAL__", initial)  # last: the figures' text is never taken for a placeholder
    )
    return html.encode("utf-8")
