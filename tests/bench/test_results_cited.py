"""bench/README.md cites result files: each one is in the repository, and
small. Raw per-sample series go to bench/results/raw/ (not in git: see
bench/summary.py); what is tracked is one summary JSON (and a PNG) per figure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import summary

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "bench" / "README.md"
RESULTS = ROOT / "bench" / "results"
LIMIT = 100 * 1024

_NAME = r"[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_*-]+)*"
_CITED = re.compile(rf"(?<![\w/.-])(?:bench/)?(?:results/)?(?P<name>{_NAME}\.(?:json|png|txt))\b")
# "results/stall-fast.json, .png": the PNG of the same run.
_SAME_RUN_PNG = re.compile(rf"results/(?P<stem>{_NAME})\.json,\s*\.png")


def cited(text: str) -> set[str]:
    """Result file names (or globs) the text cites: ``results/X.json``, a bare
    ``X.json`` / ``X.png`` (a run named in a table), ``…X.json, .png``. Not the
    placeholders (``SCENARIO.json``) nor what is under ``raw/`` (not tracked)."""
    names = {m["name"] for m in _CITED.finditer(text)}
    names |= {m["stem"] + ".png" for m in _SAME_RUN_PNG.finditer(text)}
    return {n for n in names if not re.fullmatch(r"[A-Z_]+\.\w+", n)}


def test_the_citation_parser_finds_each_form() -> None:
    text = (
        "JSON in `bench/results/SCENARIO.json`; `bench/results/raw/profile-*.txt`; ![a](results/a.png)\n"
        "(results/b.json, .png) | 10 min (c.json) | `--out bench/results/d-x.json` (results/e.json, e2.png)"
    )
    assert cited(text) == {"a.png", "b.json", "b.png", "c.json", "d-x.json", "e.json", "e2.png"}


CITED = sorted(cited(README.read_text()))


def test_the_readme_cites_results() -> None:
    assert len(CITED) >= 20  # the parser still finds them (it found 29 when written)


@pytest.mark.parametrize("name", CITED)
def test_each_cited_result_exists_and_is_small(name: str) -> None:
    found = sorted(RESULTS.glob(name))
    assert found, f"bench/README.md cites bench/results/{name}, which is not there"
    for path in found:
        assert path.stat().st_size <= LIMIT, f"{path.name}: {path.stat().st_size} bytes (raw series belong in raw/)"


def test_no_tracked_result_holds_raw_series() -> None:
    import json

    for path in RESULTS.glob("*.json"):
        assert not summary.has_series(json.loads(path.read_text())), f"{path.name}: run python -m bench.summary {path}"
    for path in RESULTS.iterdir():
        if path.is_file():
            assert path.stat().st_size <= LIMIT, path.name
