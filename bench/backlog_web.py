"""``python -m bench backlog-web``: the web app in front of a big Inbox (issue 18).

For each Inbox size N (``--sizes``, default 100,1000,5000,20000) and each of
``--repeat`` runs: N waiting WhatsApp conversations are written into a fresh
SQLite file before the node starts (bench/backlog_seed.py ``seed``), one node
serves it (``serve --data``), and a real Chromium (/usr/bin/chromium, driven by
Playwright as tests/browser/conftest.py does) logs in as the queue's agent.
Measured in the page (an init script wraps the WebSocket and watches the DOM
with a MutationObserver; "painted" is the first animation frame after the
change, plus a task):

- ``inbox_ms``: the ``snapshot`` frame's arrival → the first Inbox row painted;
- ``added_ms``: a signed webhook POST for a new customer → the Inbox counter
  painted with it (median of 3; with the Inbox as a window of the oldest
  waiting, a new arrival beyond the window is a count, not a row);
- ``open_ms``: a click on the list's first row → its thread's message painted;
- ``burst_late_ms``: during ``--rate`` new conversations/s for
  ``--duration`` s, the worst lateness of the counter painted (each arrival
  is late from its POST until a painted count includes it), and the longest
  main-thread task seen (``longtask_ms``);
- ``dom_nodes``: the page's elements (the max sampled each second of the burst);
- ``added_page_ms`` and ``burst_page_late_ms``: the page's own part of the two
  above, from the ``inbox.added`` frame's arrival (the rest is the node's and
  the network's);
- ``layouts_per_added``, ``styles_per_added``, ``layout_ms_per_added``: the
  page's layouts and style recalculations per single arrival (Chromium's
  ``Performance.getMetrics`` counters over the single arrivals, divided by
  their number; counts the machine's load does not move), and the layouts'
  time.

Then the same again with a ``--thread``-message conversation open and wholly
loaded (its messages posted in batched webhooks; the app's search for its
first message reads every page): ``thread.*``; there ``open_ms`` is a click
on that conversation's row (found through the filter box) → its thread painted.

Median, min and max of the repeats per figure, and ratios N = max / N = min of
the medians. Run niced (``nice -n -15 python -m bench backlog-web``), the
node and the posters inherit the nice value but Chromium does not: it sets
each of its threads' own (0, -8 for display, +10 for background), so while a
run is niced every thread of its Chromium is given the run's nice value,
again each second (``renice_browser``). Summary JSON bench/results/backlog_web.json (``--out``), the
whole report in bench/results/raw/, one PNG per figure against N
(bench/results/backlog_web-FIGURE.png).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import backlog_seed, summary
from bench.center import APP_SECRET, Center
from bench.harness import Progress
from bench.procs import Proc, free_port, python_module
from server.channels.signature import HEADER, sign

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIGURES = (
    "inbox_ms", "added_ms", "added_page_ms", "open_ms", "burst_late_ms", "burst_page_late_ms", "longtask_ms", "dom_nodes",
    "layouts_per_added", "styles_per_added", "layout_ms_per_added",
)
TARGETS = {"inbox_ms": 300, "added_ms": 50, "added_page_ms": 50, "open_ms": 150, "burst_late_ms": 200, "burst_page_late_ms": 200, "dom_nodes": 2000}
THREAD_ADDRESS = "5511988887777"
THREAD_NAME = "Thread customer"

PROBE = r"""
(() => {
  const probe = { snapshotAt: null, rowsAt: null, counts: [], longest: 0, added: [] };
  window.__probe = probe;
  const painted = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (typeof e.data === "string" && e.data.startsWith('{"type":"snapshot"')) { probe.snapshotAt = performance.now(); probe.rowsAt = null; }
        else if (typeof e.data === "string" && e.data.includes('"type":"inbox.added"')) probe.added.push(Date.now());
      });
    }
  };
  const watch = () => {
    new MutationObserver(() => {
      if (probe.snapshotAt !== null && probe.rowsAt === null && document.querySelector("#list li[data-conv-id]")) {
        probe.rowsAt = -1;
        painted(() => { probe.rowsAt = performance.now(); });
      }
      const counter = document.getElementById("count-inbox");
      const n = counter ? Number(counter.textContent.replace(/\D/g, "")) : NaN;
      const last = probe.counts.length ? probe.counts[probe.counts.length - 1][0] : -1;
      if (Number.isFinite(n) && n !== last) {
        probe.counts.push([n, null]);
        const entry = probe.counts[probe.counts.length - 1];
        painted(() => { entry[1] = Date.now(); });
      }
    }).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
  };
  if (document.documentElement) watch(); else document.addEventListener("DOMContentLoaded", watch);
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) probe.longest = Math.max(probe.longest, e.duration); })
      .observe({ type: "longtask", buffered: true });
  } catch {}
})();
"""

OPEN_FIRST = r"""
async () => {
  const li = document.querySelector("#list li[data-conv-id]");
  if (!li) return null;
  const id = li.dataset.convId;
  const t0 = performance.now();
  li.click();
  return await openedAfter(id, t0);
  async function openedAfter(id, t0) {
    return await new Promise((resolve) => {
      const done = () => {
        const m = document.querySelector("#thread .message");
        return !!m && m.id && document.getElementById("conv-view") && !document.getElementById("conv-view").hidden && location.hash === `#/c/${id}`;
      };
      const finish = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
      if (done()) return finish();
      const obs = new MutationObserver(() => { if (done()) { obs.disconnect(); finish(); } });
      obs.observe(document.getElementById("thread"), { subtree: true, childList: true });
    });
  }
}
"""

OPEN_ROW = r"""
async (id) => {
  const li = document.querySelector(`#list li[data-conv-id="${id}"]`);
  if (!li) return null;
  const t0 = performance.now();
  li.click();
  return await new Promise((resolve) => {
    const done = () => location.hash === `#/c/${id}` && !!document.querySelector("#thread .message") && document.getElementById("thread").dataset.drawn !== undefined;
    const finish = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
    const obs = new MutationObserver(() => { if (done()) { obs.disconnect(); finish(); } });
    obs.observe(document.getElementById("thread"), { subtree: true, childList: true, attributes: true });
  });
}
"""

NODES = "() => document.getElementsByTagName('*').length"


def envelope(wa_id: str, name: str, texts: list[tuple[str, str]]) -> bytes:
    """One signed-webhook body carrying several text messages of one customer: (wamid, text)."""
    now = int(time.time())
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100", "phone_number_id": "100000"},
        "contacts": [{"wa_id": wa_id, "profile": {"name": name}}],
        "messages": [{"from": wa_id, "id": wamid, "timestamp": str(now), "type": "text", "text": {"body": text}} for wamid, text in texts],
    }
    return msgspec.json.encode({"object": "whatsapp_business_account", "entry": [{"id": "bench-waba", "changes": [{"field": "messages", "value": value}]}]})


class Customers:
    def __init__(self, base: str, run: str) -> None:
        # A slow node must show as lateness, not as the bench's own pool running dry.
        self.http = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(120, pool=None), limits=httpx.Limits(max_connections=2000))
        self.run = run
        self.k = 0

    async def post(self, wa_id: str, name: str, texts: list[tuple[str, str]]) -> float:
        """POST the webhook; returns when it was sent (epoch ms)."""
        body = envelope(wa_id, name, texts)
        t = time.time() * 1000
        r = await self.http.post("/webhooks/whatsapp", content=body, headers={"content-type": "application/json", HEADER: sign(APP_SECRET, body)})
        r.raise_for_status()
        return t

    async def new_customer(self) -> float | None:
        """A new conversation: when its webhook was sent (epoch ms), None if the node refused it."""
        self.k += 1
        try:
            return await self.post(f"55119{self.k:08d}", f"Probe {self.k}", [(f"wamid.probe.{self.run}.{self.k}", "Olá, uma pergunta")])
        except httpx.HTTPError:
            return None

    async def thread(self, n: int) -> None:
        for start in range(1, n + 1, 100):
            texts = [(f"wamid.thread.{self.run}.{i}", f"fio {i}" + (" início" if i == 1 else "")) for i in range(start, min(n, start + 99) + 1)]
            await self.post(THREAD_ADDRESS, THREAD_NAME, texts)

    async def close(self) -> None:
        await self.http.aclose()


async def counter(page: Any) -> int:
    text: str = await page.locator("#count-inbox").inner_text()
    return int("".join(c for c in text if c.isdigit()) or 0)


async def painted_at(page: Any, count: int, timeout: float = 60.0) -> float | None:
    """When the counter was first painted at ``count`` or more (epoch ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = await page.evaluate("() => window.__probe.counts")
        for n, at in counts:
            if n >= count and at is not None:
                return float(at)
        await asyncio.sleep(0.05)
    return None


async def metrics(cdp: Any) -> dict[str, float]:
    got = await cdp.send("Performance.getMetrics")
    return {m["name"]: float(m["value"]) for m in got["metrics"]}


async def singles(page: Any, customers: Customers, times: int = 3) -> tuple[list[float], list[float], dict[str, float]]:
    """POST → counter painted, and the page's own part: the `inbox.added` frame's arrival → painted;
    and the page's layout work per arrival."""
    out, client = [], []
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    before = await metrics(cdp)
    for _ in range(times):
        base = await counter(page)
        await page.evaluate("() => { window.__probe.added = []; }")
        t = await customers.new_customer()
        at = await painted_at(page, base + 1) if t is not None else None
        if at is not None and t is not None:
            out.append(at - t)
            frames = await page.evaluate("() => window.__probe.added")
            if frames:
                client.append(at - frames[0])
        await asyncio.sleep(0.3)
    after = await metrics(cdp)
    await cdp.detach()
    work = {
        "layouts_per_added": (after["LayoutCount"] - before["LayoutCount"]) / times,
        "styles_per_added": (after["RecalcStyleCount"] - before["RecalcStyleCount"]) / times,
        "layout_ms_per_added": 1000 * (after["LayoutDuration"] - before["LayoutDuration"]) / times,
    }
    return out, client, work


async def burst(page: Any, customers: Customers, rate: float, duration: float) -> dict[str, Any]:
    base = await counter(page)
    await page.evaluate("() => { window.__probe.longest = 0; window.__probe.added = []; }")
    posted: list[float] = []
    nodes = [await page.evaluate(NODES)]
    start = time.monotonic()
    total = int(rate * duration)

    async def sample() -> None:
        while time.monotonic() < start + duration:
            await asyncio.sleep(1.0)
            nodes.append(await page.evaluate(NODES))

    sampler = asyncio.create_task(sample())
    tasks = []
    for k in range(total):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(customers.new_customer()))
    sent = list(await asyncio.gather(*tasks))
    await sampler
    posted = [t for t in sent if t is not None]
    last = await painted_at(page, base + len(posted), timeout=120)
    counts = [(n, at) for n, at in await page.evaluate("() => window.__probe.counts") if at is not None and n > base]
    posted.sort()
    late = []
    for k, t in enumerate(posted):
        seen = next((at for n, at in counts if n >= base + k + 1), None)
        late.append((seen - t) if seen is not None else None)
    nodes.append(await page.evaluate(NODES))
    # The page's own part: the k-th `inbox.added` frame's arrival → a painted count including it.
    frames = sorted(await page.evaluate("() => window.__probe.added"))
    in_page = []
    for k, t in enumerate(frames):
        seen = next((at for n, at in counts if n >= base + k + 1), None)
        if seen is not None:
            in_page.append(seen - t)
    return {
        "in_page_late_ms_max": max(in_page, default=None),
        "posted": total,
        "refused": total - len(posted),
        "all_painted": last is not None,
        "late_ms_max": max((x for x in late if x is not None), default=None),
        "late_ms_p50": statistics.median([x for x in late if x is not None]) if any(x is not None for x in late) else None,
        "longtask_ms": await page.evaluate("() => window.__probe.longest"),
        "dom_nodes_max": max(nodes),
    }


async def measure(page: Any, customers: Customers, opts: argparse.Namespace, *, thread_id: str | None, progress: Progress) -> dict[str, Any]:
    fragment = f"#/c/{thread_id}" if thread_id else ""
    await page.goto(f"{customers.http.base_url}/{fragment}")
    if thread_id:
        await page.reload()  # a hash change alone is no new log-in
    await page.wait_for_function("() => window.__probe && window.__probe.rowsAt > 0", timeout=120_000)
    probe = await page.evaluate("() => window.__probe")
    out: dict[str, Any] = {"inbox_ms": probe["rowsAt"] - probe["snapshotAt"], "rows_after_navigation_ms": probe["rowsAt"]}
    if thread_id:
        await page.locator("#thread .message").first.wait_for(timeout=60_000)
        progress.show("  reading the whole thread", force=True)
        await load_whole_thread(page)
    progress.show("  single arrivals", force=True)
    out["added_samples_ms"], out["added_in_page_ms"], work = await singles(page, customers)
    out.update(work)
    out["added_ms"] = statistics.median(out["added_samples_ms"]) if out["added_samples_ms"] else None
    out["added_page_ms"] = statistics.median(out["added_in_page_ms"]) if out["added_in_page_ms"] else None
    progress.show("  click to open", force=True)
    if thread_id:
        out["open_ms"] = await open_by_filter(page, thread_id)
    else:
        out["open_ms"] = await page.evaluate(OPEN_FIRST)
    progress.show("  the burst", force=True)
    b = await burst(page, customers, opts.rate, opts.duration)
    out["burst"] = b
    out["burst_late_ms"] = b["late_ms_max"]
    out["burst_page_late_ms"] = b["in_page_late_ms_max"]
    out["longtask_ms"] = b["longtask_ms"]
    out["dom_nodes"] = b["dom_nodes_max"]
    return out


async def load_whole_thread(page: Any) -> None:
    """The agent's search for the first message: the app reads every older page (200 at a time)."""
    await page.locator("#search-input").fill("inicio")
    await page.locator('#thread .message[data-seq="1"] mark.current').wait_for(timeout=120_000)
    await page.locator("#search-input").fill("")


async def open_by_filter(page: Any, thread_id: str) -> float | None:
    """Click the thread's row, found through the filter box, from another conversation."""
    await page.locator("#list-filter").fill(THREAD_ADDRESS)
    await page.locator(f'#list li[data-conv-id="{thread_id}"]').wait_for(timeout=60_000)
    # Leave it first (Esc closes the conversation), so the click opens it afresh.
    await page.locator("#thread").focus()
    await page.keyboard.press("Escape")
    await page.locator("#conv-view").wait_for(state="hidden")
    ms: float | None = await page.evaluate(OPEN_ROW, thread_id)
    await page.locator("#list-filter").fill("")
    return ms


async def one_run(opts: argparse.Namespace, n: int, workdir: Path, run: int, progress: Progress) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    center = Center(1, 1)
    t0 = time.monotonic()
    data = await asyncio.to_thread(backlog_seed.seed, workdir, n, 1)  # it runs a loop of its own
    seeded_s = time.monotonic() - t0
    port = free_port()
    config = center.write(workdir / f"center-{port}.toml", port=port)
    proc = Proc("switchboard", python_module("server.cli", "serve", "--config", str(config), "--data", str(data)),
                workdir / f"switchboard-{port}.log", f"http://127.0.0.1:{port}/readyz", {"SWITCHBOARD_NODE_ID": "bench-web"})
    proc.start(timeout=120)
    customers = Customers(f"http://127.0.0.1:{port}", f"{run:02d}{n % 100000:05d}")
    result: dict[str, Any] = {"n": n, "seeded_s": round(seeded_s, 2)}
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = await browser.new_context(viewport={"width": 1360, "height": 820}, locale="en-US")
            await context.add_init_script(f"localStorage.setItem('switchboard.token', {center.token(center.agent_id(0))!r})")
            await context.add_init_script(PROBE)
            page = await context.new_page()
            niced: asyncio.Task[None] | None = None
            if (nice := os.nice(0)) < 0:
                reniced: list[int] = []
                result["browser_reniced"] = reniced
                niced = asyncio.create_task(keep_browser_niced(nice, reniced))
            progress.show(f"backlog-web N={n} run {run + 1}: the list", force=True)
            result["list"] = await measure(page, customers, opts, thread_id=None, progress=progress)
            progress.show(f"backlog-web N={n} run {run + 1}: seeding a {opts.thread}-message thread", force=True)
            t1 = time.monotonic()
            await customers.thread(opts.thread)
            result["thread_seeded_s"] = round(time.monotonic() - t1, 2)
            thread_id = await thread_conversation(customers.http, center.token(center.agent_id(0)))
            progress.show(f"backlog-web N={n} run {run + 1}: with the thread open", force=True)
            result["thread"] = await measure(page, customers, opts, thread_id=thread_id, progress=progress)
            if niced is not None:
                niced.cancel()
            await browser.close()
    finally:
        await customers.close()
        proc.stop()
    return result


async def thread_conversation(http: httpx.AsyncClient, token: str) -> str:
    """The thread's conversation id, from the REST Inbox filtered by its number (paged by cursor)."""
    cursor: str | None = None
    for _ in range(200):
        params = {"q": THREAD_ADDRESS, **({"cursor": cursor} if cursor else {})}
        r = await http.get("/api/queues/q0/inbox", params=params, headers={"authorization": f"Bearer {token}"})
        r.raise_for_status()
        for s in r.json():
            if THREAD_ADDRESS in s["contact"]["address"]:
                return str(s["id"])
        cursor = r.headers.get("X-Next-Cursor")
        if not cursor:
            break
    raise RuntimeError("the thread's conversation is not in the Inbox")


def descendants(root: int) -> list[int]:
    """Every process under ``root`` (by /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def renice_browser(nice: int) -> int:
    """Give every thread of this process's Chromium the nice value ``nice``;
    returns how many threads were changed."""
    changed = 0
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if "chrom" not in f.read():
                    continue
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                if os.getpriority(os.PRIO_PROCESS, int(tid)) != nice:
                    os.setpriority(os.PRIO_PROCESS, int(tid), nice)
                    changed += 1
            except OSError:
                continue
    return changed


async def keep_browser_niced(nice: int, counts: list[int]) -> None:
    while True:
        counts.append(renice_browser(nice))
        await asyncio.sleep(1.0)


def spread(values: list[float | None]) -> dict[str, float | None]:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(vals), 1), "min": round(min(vals), 1), "max": round(max(vals), 1), "n": len(vals)}


def summarize(runs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in ("list", "thread"):
        per_n = {str(n): {f: spread([r[part][f] for r in rs]) for f in FIGURES} for n, rs in runs.items()}
        sizes = sorted(runs)
        out[part] = {"by_n": per_n}
        for n in sizes[1:]:  # each N over the smallest, the largest last
            lo, hi = per_n[str(sizes[0])], per_n[str(n)]
            ratios = {}
            for f in FIGURES:
                a, b = lo[f]["median"], hi[f]["median"]
                ratios[f] = round(b / a, 2) if a and b is not None else None
            out[part][f"ratio_{n}_over_{sizes[0]}"] = ratios
    return out


def plots(result: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    for f in FIGURES:
        fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
        for part, style in (("list", "o-"), ("thread", "s--")):
            by_n = result["summary"][part]["by_n"]
            xs = sorted(int(n) for n in by_n)
            med = [by_n[str(x)][f]["median"] for x in xs]
            lo = [(m - by_n[str(x)][f]["min"]) if m is not None else 0 for x, m in zip(xs, med, strict=True)]
            hi = [(by_n[str(x)][f]["max"] - m) if m is not None else 0 for x, m in zip(xs, med, strict=True)]
            ax.errorbar(xs, [m if m is not None else float("nan") for m in med], yerr=[lo, hi], fmt=style, capsize=3,
                        label="Inbox only" if part == "list" else f"with a {result['options']['thread']:,}-message thread open")
        if f in TARGETS:
            ax.axhline(TARGETS[f], color="grey", lw=0.8, ls=":", label=f"target {TARGETS[f]}")
        ax.set_xscale("log")
        ax.set_xlabel("waiting conversations N")
        ax.set_ylabel(f)
        ax.set_title(f"web app, {f} against N (median, min–max of {result['options']['repeat']})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out.with_name(f"{out.stem}-{f}.png")
        fig.savefig(path)
        plt.close(fig)
        summary.small_png(path)
        made.append(path)
    return made


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench backlog-web", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",") if x], default=[100, 1000, 5000, 20000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rate", type=float, default=20.0, help="new conversations/s during the burst")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of the burst")
    ap.add_argument("--thread", type=int, default=5000, help="messages of the open thread in the second part")
    ap.add_argument("--out", type=Path, default=summary.RESULTS / "backlog_web.json")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    opts = ap.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing")
    progress = Progress(not opts.quiet)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in opts.sizes}
    load: list[tuple[float, float, float]] = []
    failures: list[dict[str, Any]] = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-backlog-web-") as tmp:
        for run in range(opts.repeat):
            for n in opts.sizes:  # interleaved: each repeat goes through every N
                workdir = Path(tmp) / f"n{n}-r{run}"
                workdir.mkdir()
                load.append(os.getloadavg())
                try:
                    runs[n].append(asyncio.run(one_run(opts, n, workdir, run, progress)))
                except Exception as e:  # one failed run is a hole in the figures, not the end of the others
                    progress.done(f"backlog-web N={n} run {run + 1} failed: {e!r}")
                    failures.append({"n": n, "run": run, "error": repr(e)})
                    continue
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                progress.done(f"backlog-web N={n} run {run + 1}: " + json.dumps({p: {f: runs[n][-1][p][f] for f in FIGURES} for p in ("list", "thread")}))
                write(opts, argv, runs, load, failures, started, plot=False)  # what is done so far survives a crash
    report = write(opts, argv, runs, load, failures, started, plot=not opts.no_plot)
    print(json.dumps(report["summary"], indent=1))
    return 0


def write(
    opts: argparse.Namespace, argv: list[str], runs: dict[int, list[dict[str, Any]]], load: list[tuple[float, float, float]],
    failures: list[dict[str, Any]], started: float, *, plot: bool,
) -> dict[str, Any]:
    from bench.__main__ import environment

    done = {n: rs for n, rs in runs.items() if rs}
    report: dict[str, Any] = {
        "scenario": "backlog-web",
        "command": "python -m bench backlog-web " + " ".join(argv),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()},
        "environment": environment(),
        "seconds": round(time.time() - started, 1),
        "loadavg_at_each_run": load,
        "failures": failures,
        "summary": summarize(done),
        "runs": {str(n): rs for n, rs in done.items()},
    }
    if plot and done:
        report["plots"] = [str(p) for p in plots(report, opts.out)]
    summary.write(report, opts.out)
    return report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
