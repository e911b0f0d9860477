"""The widget in a real Tk window on a virtual screen (Xvfb), fed by a real
node: counters, an alert, a click that opens the web app, a screenshot."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Running, token

try:
    import tkinter as tk
except ImportError as e:  # a Python built without Tk: nothing to draw with
    pytest.skip(f"tkinter cannot be imported ({e}); the widget's window test needs Tk", allow_module_level=True)

from clients.widget.app import VISIBLE_ROWS, WidgetApp
from clients.widget.view import conversation_url

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "widget"


@pytest.fixture
def display() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        if os.environ.get("CI"):
            pytest.fail("Xvfb is missing: scripts/ensure-chromium.sh should have installed it")
        pytest.skip("Xvfb is not installed (run scripts/ensure-chromium.sh)")
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=[write],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    number = b""
    while not number.endswith(b"\n"):  # Xvfb writes its display number once it is ready
        chunk = os.read(read, 16)
        if not chunk:
            proc.kill()
            pytest.fail("Xvfb exited before it was ready")
        number += chunk
    os.close(read)
    try:
        yield ":" + number.decode().strip()
    finally:
        proc.terminate()
        proc.wait(10)


NOTIFIED: list[tuple[str, str]] = []


@pytest.fixture
async def widget(running: Running, display: str) -> AsyncIterator[tuple[WidgetApp, list[str]]]:
    opened: list[str] = []
    NOTIFIED.clear()
    notify = lambda title, text: NOTIFIED.append((title, text))  # noqa: E731
    app = WidgetApp(running.base, token("ana"), root=tk.Tk(screenName=display), open_url=opened.append, notify=notify)
    await app.start()
    yield app, opened
    await app.close()


async def pumped(app: WidgetApp, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Let Tk run (as WidgetApp.run does) until the predicate holds."""

    async def loop() -> Any:
        app.pump()
        while not (value := predicate()):
            await asyncio.sleep(0.02)
            app.pump()
        return value

    return await asyncio.wait_for(loop(), timeout)


def screenshot(app: WidgetApp, display: str, path: Path) -> Any:
    from PIL import ImageGrab

    root = app.root
    root.update()
    box = (root.winfo_rootx(), root.winfo_rooty(), root.winfo_rootx() + root.winfo_width(), root.winfo_rooty() + root.winfo_height())
    image = ImageGrab.grab(bbox=box, xdisplay=display)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return image


async def test_widget_window_counts_alerts_and_opens_the_web_app(
    running: Running, widget: tuple[WidgetApp, list[str]], display: str
) -> None:
    app, opened = widget
    window = app.window
    await pumped(app, lambda: window.status.cget("text") == "● Live")
    assert app.root.attributes("-topmost") == 1  # always on top (applied once mapped)
    assert window.agent.cget("text") == "Ana Souza"
    assert [window.counts[k].cget("text").strip() for k in ("assigned", "inbox", "unread")] == ["0", "0", "0"]

    mine = (await running.inbound("Olá! Meu pedido chegou quebrado", address="5511987654321"))["conversation_id"]
    await pumped(app, lambda: window.counts["inbox"].cget("text") == "1")
    assert window.alert_labels[0].cget("text") == "New in Inbox: +55 11 98765-4321: Olá! Meu pedido chegou quebrado"

    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], mine)
    await running.inbound("Vocês podem trocar?", address="5511987654321")
    other = (await running.inbound("Hi, do you ship to Lisbon?", address="5511900000002"))["conversation_id"]
    await pumped(app, lambda: window.counts["unread"].cget("text").strip() == "2" and window.counts["inbox"].cget("text") == "1")
    assert window.counts["assigned"].cget("text") == "1"
    assert window.counts["unread"].cget("bg") == "#ffd43b"  # the yellow unread bubble
    assert app.root.title() == "Switchboard · 2 unread"
    texts = [label.cget("text") for label in window.alert_labels]
    assert texts == [
        "New in Inbox: +55 11 90000-0002: Hi, do you ship to Lisbon?",
        "New message from +55 11 98765-4321: Vocês podem trocar?",  # a new message in her conversation rings too
        "Assigned to you: +55 11 98765-4321",
    ]
    # Each alert also went to the desktop's notifications.
    assert ("Switchboard", "New message from +55 11 98765-4321: Vocês podem trocar?") in NOTIFIED

    # Clicking an alert opens the web app at that conversation.
    window.alert_labels[1].event_generate("<Button-1>")
    app.pump()
    assert opened == [conversation_url(running.base, mine)]
    window.alert_labels[0].event_generate("<Button-1>")
    app.pump()
    assert opened[-1] == conversation_url(running.base, other)

    image = screenshot(app, display, ARTIFACTS / "widget.png")
    assert image.size == (app.root.winfo_width(), app.root.winfo_height())
    assert len(image.getcolors(maxcolors=1 << 16) or []) > 20  # drawn: text and colours, not a blank rectangle

    # More conversations than the window shows at once: the rows scroll.
    # (In the same test: a second Tk in one process outlives its Xvfb badly.)
    ana = running.node.app.catalog.agents["ana"]
    made = [(await running.inbound(f"oi {n}", address=f"55119000001{n:02}"))["conversation_id"] for n in range(VISIBLE_ROWS + 4)]
    for cid in made:
        await running.node.app.commands.claim(ana, cid)
    await pumped(app, lambda: len(window.rows.winfo_children()) == len(made) + 1)
    await pumped(app, lambda: window.scrollbar.winfo_ismapped())
    canvas = window.canvas
    assert canvas.winfo_height() < window.rows.winfo_reqheight()  # a window onto the rows
    assert canvas.yview()[0] == 0.0
    canvas.yview_moveto(1.0)
    app.pump()
    assert canvas.yview()[1] == 1.0  # the last rows can be reached
    screenshot(app, display, ARTIFACTS / "widget-scrolled.png")
