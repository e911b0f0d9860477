"""The web app's JavaScript speaks the server's protocol: its declarations are
generated from the schema, and `tsc --checkJs` checks every JS file against
them. TypeScript comes from the npm registry (clients/web/package-lock.json),
installed here on first use so `make test` works on a fresh machine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from clients.web import typegen

WEB = Path(__file__).resolve().parents[2] / "clients" / "web"
TSC = WEB / "node_modules" / ".bin" / "tsc"


def ensure_tsc() -> Path:
    if not TSC.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to type-check the web app (Node.js from Debian: apt-get install nodejs npm)")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True, timeout=600
        )
    return TSC


def test_generated_declarations_are_up_to_date() -> None:
    assert typegen.OUT.read_text() == typegen.generate(), "run: python -m clients.web.typegen"


def test_declarations_cover_every_frame_and_event() -> None:
    from protocol import messages as p

    text = typegen.generate()
    for cls in (*p.COMMANDS, *p.FRAMES, *p.EVENTS):
        tag = cls.__struct_config__.tag
        assert f'type: "{tag}";' in text, tag
    assert "protocol?: number;" in text  # a command's default may be left out
    assert "ended_at: number | null;" in text  # a server frame's default is always sent


def test_web_app_javascript_type_checks_against_the_protocol() -> None:
    tsc = ensure_tsc()
    run = subprocess.run([str(tsc), "-p", "tsconfig.json"], cwd=WEB, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_type_check_catches_a_wrong_field(tmp_path: Path) -> None:
    """The check has teeth: a command with a misspelled field fails."""
    tsc = ensure_tsc()
    bad = tmp_path / "bad.js"
    bad.write_text(
        "/** @type {import('./protocol').ClientCommand} */\n"
        'export const cmd = { type: "claim", id: "1", conversation: "c1" };\n'
    )
    shutil.copy(typegen.OUT, tmp_path / "protocol.d.ts")
    run = subprocess.run(
        [str(tsc), "--checkJs", "--allowJs", "--noEmit", "--strict", "--module", "ES2022", "--target", "ES2022", str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0 and "conversation_id" in run.stdout
