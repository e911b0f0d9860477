"""The web app's pure modules (server/static/js/mirror.js, view.js, format.js)
under Node's built-in test runner: tests/js/*.test.mjs. Node is the same one
the TypeScript check uses; without it these skip and say so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS_TESTS = sorted((ROOT / "tests" / "js").glob("*.test.mjs"))


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed: the web app's unit tests (tests/js) need Node.js 18 or newer")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"node {version} has no built-in test runner (Node.js 18 or newer is needed)")
    return path


def run_node_tests(files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node(), "--test", "--test-reporter=tap", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("path", JS_TESTS, ids=[p.name for p in JS_TESTS])
def test_web_app_unit_tests_pass(path: Path) -> None:
    run = run_node_tests([path])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout, run.stdout


def test_the_js_test_files_are_found() -> None:
    assert {p.name for p in JS_TESTS} >= {"mirror.test.mjs", "view.test.mjs"}


def test_a_failing_js_test_fails_here(tmp_path: Path) -> None:
    """The harness has teeth: a failing assertion in a test file is a failure."""
    bad = tmp_path / "bad.test.mjs"
    bad.write_text('import { test } from "node:test";\nimport assert from "node:assert/strict";\ntest("no", () => assert.equal(1, 2));\n')
    run = run_node_tests([bad])
    assert run.returncode != 0 and "# fail 1" in run.stdout
