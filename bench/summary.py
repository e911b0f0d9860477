"""Where results go, and ``python -m bench.summary FILE…`` to shrink old ones.

A run writes two files:

- ``bench/results/NAME.json``: the summary, tracked in git and cited by
  bench/README.md: the command, environment and every figure, without the
  per-sample series (``samples``: one row every ``--sample`` seconds). A soak
  summary keeps the latency-spike counts of ``python -m bench.soakstats`` in
  ``result.spikes``, computed from those series before they are dropped.
- ``bench/results/raw/NAME.json``: the whole report, series included, for
  plots and ``bench.soakstats``. Ignored by git (``.gitignore``): a soak or
  stall run writes 0.1–1 MB of series.

Plots are written beside the summary (``NAME.png``) as 64-colour palette PNGs,
a quarter of matplotlib's size with no visible difference for line charts.

``python -m bench.summary bench/results/X.json bench/results/X.png …`` turns
results written before this split into the same shape: a JSON with series is
copied whole to ``raw/`` (unless a raw copy is already there) and rewritten as
its summary; a PNG is re-encoded with the palette. Files already small are
left as they are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
RAW = RESULTS / "raw"
SERIES = "samples"
"""The key that holds a per-sample series, at any depth (a soak result, each stall run)."""
PNG_COLOURS = 64


def raw_path(out: Path) -> Path:
    """Where the whole report of the summary ``out`` goes: ``raw/`` beside it."""
    return out.parent / "raw" / out.name


def strip_series(value: Any) -> Any:
    """A copy without any ``samples`` series, at any depth."""
    if isinstance(value, dict):
        return {k: strip_series(v) for k, v in value.items() if not (k == SERIES and isinstance(v, list))}
    if isinstance(value, list):
        return [strip_series(v) for v in value]
    return value


def has_series(value: Any) -> bool:
    if isinstance(value, dict):
        return any((k == SERIES and isinstance(v, list)) or has_series(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_series(v) for v in value)
    return False


def summarize(report: dict[str, Any], raw: Path | None = None) -> dict[str, Any]:
    """The summary of a whole report (see the module docstring)."""
    summary: dict[str, Any] = strip_series(report)
    result = report.get("result")
    if report.get("scenario") == "soak" and isinstance(result, dict) and isinstance(result.get(SERIES), list):
        from bench.soakstats import stats_of

        spikes = stats_of(report)
        spikes.pop("command", None)  # the summary has it already
        summary["result"]["spikes"] = spikes
    if raw is not None:
        summary["raw"] = f"{raw.parent.name}/{raw.name} (not in git: the per-sample series)"
    return summary


def write(report: dict[str, Any], out: Path) -> Path:
    """Write the summary to ``out`` and the whole report to ``raw/``; returns the raw path."""
    raw = raw_path(out)
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.write_text(json.dumps(summarize(report, raw), indent=2, default=str) + "\n")
    return raw


def small_png(path: Path) -> None:
    """Re-encode a plot as a palette PNG (in place)."""
    from PIL import Image

    with Image.open(path) as im:
        image = im.convert("RGB")
    image.quantize(colors=PNG_COLOURS, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def convert(path: Path) -> str:
    """Shrink one existing result file in place; says what it did."""
    if path.suffix == ".png":
        before = path.stat().st_size
        small_png(path)
        return f"{path}: {before // 1024} → {path.stat().st_size // 1024} KiB"
    report = json.loads(path.read_text())
    if not has_series(report):
        return f"{path}: no series, left as it is"
    raw = raw_path(path)
    if not raw.exists():
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(path.read_text())
    before = path.stat().st_size
    path.write_text(json.dumps(summarize(report, raw), indent=2, default=str) + "\n")
    return f"{path}: {before // 1024} → {path.stat().st_size // 1024} KiB (whole report in {raw})"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        sys.exit(__doc__)
    for arg in args:
        print(convert(Path(arg)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
