"""The desktop widget: a small always-on-top Tk window on the Python client.

It shows the agent's Assigned count, Inbox count and total unread, lists
all their conversations (the list scrolls), and raises an alert (the bell, a
desktop notification where the system has ``notify-send``, the count in the
title) when a conversation is assigned to them, a new one enters their
Inbox, a customer writes in one of theirs, or one of theirs locks. Clicking
a conversation or an alert opens the web app at it. In English, Spanish or
Brazilian Portuguese (clients/widget/i18n.py).

    switchboard widget --token TOKEN [--url http://127.0.0.1:8000] [--lang es]

One thread: asyncio runs the client, and a task pumps Tk's events every
50 ms (``WidgetApp.run``), so no lock is needed between them. What is drawn
is ``view_of(mirror)`` (clients/widget/view.py); this file only copies it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tkinter as tk
import webbrowser
from collections.abc import Callable
from typing import Any, cast

from clients.switchboard_client import AgentClient, AuthError, Change, Mirror
from clients.widget.i18n import ENGLISH, Words, pick_language, system_languages
from clients.widget.view import Alert, MessageAlerts, WidgetView, alerts_of, conversation_url, view_of
from protocol import messages as p

log = logging.getLogger(__name__)

BG = "#ffffff"
INK = "#1d2430"
MUTED = "#5a6474"
HEADER = "#1f2a56"
ACCENT = "#3446b8"
UNREAD = "#ffd43b"
CHANNEL = {"whatsapp": "#17804a", "messenger": "#0b5ad9"}
ALERT_BG = {"assigned": "#e8ebfb", "inbox": "#e3f4ea", "locked": "#fff4d6", "message": "#fff4d6", "offer": "#e8ebfb"}
ALERT_INK = {"assigned": "#25338f", "inbox": "#0f5c34", "locked": "#5c3d00", "message": "#5c3d00", "offer": "#25338f"}
ROUTING_STATUSES = ("available", "away", "offline")
MAX_ALERTS = 3
VISIBLE_ROWS = 8
"""Rows shown at once; more scroll (the wheel, or the scrollbar)."""
ROW_PX = 22
FONT = "DejaVu Sans"


def desktop_notify(title: str, text: str) -> None:
    """A desktop notification where the system offers one (``notify-send``,
    freedesktop); Tk has none of its own. Never waits for it."""
    command = shutil.which("notify-send")
    if command is None:
        return
    try:
        subprocess.Popen([command, "--app-name=Switchboard", title, text], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        log.debug("notify-send failed", exc_info=True)


class WidgetWindow:
    """The window's widgets; ``show`` and ``alert`` copy pure values onto them."""

    def __init__(
        self,
        root: tk.Tk,
        *,
        base_url: str,
        open_url: Callable[[str], object],
        words: Words = ENGLISH,
        notify: Callable[[str, str], object] = desktop_notify,
        set_status: Callable[[str], object] = lambda _s: None,
    ) -> None:
        self.root = root
        self.set_status = set_status
        self.base_url = base_url
        self.open_url = open_url
        self.words = words
        self.notify = notify
        _ = words._
        self.alerts: list[Alert] = []
        self.opened: list[str] = []
        root.title("Switchboard")
        root.configure(bg=BG)
        root.resizable(False, False)
        root.attributes("-topmost", True)
        root.minsize(300, 10)

        header = tk.Frame(root, bg=HEADER, padx=12, pady=8)
        header.pack(fill="x")
        self.status = tk.Label(header, text=_("Connecting…"), bg=HEADER, fg="#c9d1ff", font=(FONT, 9))
        self.status.pack(side="left")
        self.agent = tk.Label(header, text="", bg=HEADER, fg="#ffffff", font=(FONT, 10, "bold"))
        self.agent.pack(side="right")

        counters = tk.Frame(root, bg=BG, padx=8, pady=10)
        counters.pack(fill="x")
        self.counts: dict[str, tk.Label] = {}
        for column, (key, caption) in enumerate((("assigned", _("Assigned")), ("inbox", _("Inbox")), ("unread", _("Unread")))):
            cell = tk.Frame(counters, bg=BG)
            cell.grid(row=0, column=column, sticky="nsew", padx=4)
            counters.columnconfigure(column, weight=1)
            number = tk.Label(cell, text="0", bg=BG, fg=ACCENT, font=(FONT, 20, "bold"), cursor="hand2")
            number.pack()
            number.bind("<Button-1>", lambda _e: self._open(self.base_url.rstrip("/") + "/"))
            tk.Label(cell, text=caption, bg=BG, fg=MUTED, font=(FONT, 9)).pack()
            self.counts[key] = number
        self.locked = tk.Label(root, text="", bg=BG, fg=ALERT_INK["locked"], font=(FONT, 9, "bold"), anchor="w", padx=12)
        self.locked.pack(fill="x")
        self.routing = tk.StringVar(root, value="")
        self.routing_menu = tk.OptionMenu(root, self.routing, *ROUTING_STATUSES, command=lambda v: self.set_status(str(v)))
        self.routing_menu.configure(bg=BG, fg=INK, font=(FONT, 9), highlightthickness=0)

        self.rows_title = tk.Label(root, text=_("YOUR CONVERSATIONS"), bg=BG, fg=MUTED, font=(FONT, 8, "bold"), anchor="w", padx=12)
        # The rows scroll inside a canvas: all of the agent's conversations, VISIBLE_ROWS at a time.
        self.rows_box = tk.Frame(root, bg=BG, padx=8, pady=2)
        self.rows_box.pack(fill="x")
        self.canvas = tk.Canvas(self.rows_box, bg=BG, highlightthickness=0, height=0, width=280)
        self.scrollbar = tk.Scrollbar(self.rows_box, orient="vertical", command=self.canvas.yview)
        self.canvas.configure(yscrollcommand=self.scrollbar.set)
        self.canvas.pack(side="left", fill="x", expand=True)
        self.rows = tk.Frame(self.canvas, bg=BG)
        self.rows_window = self.canvas.create_window(0, 0, window=self.rows, anchor="nw")
        self.canvas.bind("<Configure>", lambda e: self.canvas.itemconfigure(self.rows_window, width=e.width))
        for sequence in ("<Button-4>", "<Button-5>", "<MouseWheel>"):
            root.bind_all(sequence, self._wheel, add="+")
        self.alert_title = tk.Label(root, text=_("ALERTS"), bg=BG, fg=MUTED, font=(FONT, 8, "bold"), anchor="w", padx=12)
        self.alert_box = tk.Frame(root, bg=BG, padx=8, pady=2)
        self.alert_box.pack(fill="x")
        tk.Frame(root, bg=BG, height=8).pack(fill="x")
        self.alert_labels: list[tk.Label] = []

    def _wheel(self, event: tk.Event[Any]) -> None:
        """The mouse wheel scrolls the rows (X11 buttons 4/5, or a delta)."""
        if not self.scrollbar.winfo_ismapped():
            return
        up = event.num == 4 or getattr(event, "delta", 0) > 0
        self.canvas.yview_scroll(-1 if up else 1, "units")

    def _open(self, url: str) -> None:
        self.opened.append(url)
        self.open_url(url)

    def _opener(self, url: str) -> Callable[[tk.Event[Any]], None]:
        """A click handler that opens ``url`` in the web app."""

        def on_click(_event: tk.Event[Any]) -> None:
            self._open(url)

        return on_click

    def show(self, view: WidgetView) -> None:
        self.root.title(view.title)
        self.status.configure(text=f"● {view.status}", fg="#7ee2a8" if view.status == "Live" else "#ffb4a8")
        self.agent.configure(text=view.agent)
        self.counts["assigned"].configure(text=str(view.assigned))
        self.counts["inbox"].configure(text=str(view.inbox))
        unread = self.counts["unread"]
        unread.configure(text=f" {view.unread} ", bg=UNREAD if view.unread else BG, fg=INK if view.unread else ACCENT)
        locked = self.words.ngettext("🔒 {count} session closed", "🔒 {count} sessions closed", view.locked)
        self.locked.configure(text=locked.format(count=self.words.number(view.locked)) if view.locked else "")
        self.locked.configure(text=f"🔒 {view.locked} session{'s' if view.locked != 1 else ''} closed" if view.locked else "")
        if view.routing is None:
            self.routing_menu.pack_forget()
        else:
            self.routing.set(view.routing)
            self.routing_menu.pack(fill="x", padx=12, after=self.locked)
        for child in self.rows.winfo_children():
            child.destroy()
        if view.rows:
            self.rows_title.pack(fill="x", before=self.rows_box, pady=(6, 0))
        else:
            self.rows_title.pack_forget()
        for row in view.rows:
            line = tk.Frame(self.rows, bg=BG, cursor="hand2")
            line.pack(fill="x", pady=1)
            tk.Frame(line, bg=CHANNEL.get(row.channel, ACCENT), width=4, height=18).pack(side="left", padx=(0, 6))
            name = tk.Label(line, text=row.name, bg=BG, fg=INK, font=(FONT, 10), anchor="w")
            name.pack(side="left", fill="x", expand=True)
            parts = [name, line]
            if row.locked:
                parts.append(tk.Label(line, text="🔒", bg=BG, fg=ALERT_INK["locked"], font=(FONT, 9)))
                parts[-1].pack(side="right")
            if row.unread:
                parts.append(tk.Label(line, text=f" {row.unread} ", bg=UNREAD, fg=INK, font=(FONT, 9, "bold")))
                parts[-1].pack(side="right", padx=2)
            url = conversation_url(self.base_url, row.conversation_id)
            for part in parts:
                part.bind("<Button-1>", self._opener(url))
        self._size_rows(len(view.rows))

    def _size_rows(self, count: int) -> None:
        """Show up to VISIBLE_ROWS rows; the scrollbar appears when there are more."""
        self.rows.update_idletasks()
        height = self.rows.winfo_reqheight() if count else 0
        shown = min(count, VISIBLE_ROWS)
        self.canvas.configure(height=min(height, shown * ROW_PX) if count > VISIBLE_ROWS else height)
        self.canvas.configure(scrollregion=(0, 0, 0, height))
        if count > VISIBLE_ROWS:
            self.scrollbar.pack(side="right", fill="y")
        else:
            self.scrollbar.pack_forget()
            self.canvas.yview_moveto(0)

    def alert(self, alert: Alert) -> None:
        self.alerts = [alert, *self.alerts][:MAX_ALERTS]
        for label in self.alert_labels:
            label.destroy()
        self.alert_labels = []
        self.alert_title.pack(fill="x", before=self.alert_box, pady=(6, 0))
        for index, a in enumerate(self.alerts):
            label = tk.Label(
                self.alert_box,
                text=a.text,
                bg=ALERT_BG[a.kind] if index == 0 else "#f4f6fa",
                fg=ALERT_INK[a.kind] if index == 0 else MUTED,
                font=(FONT, 9, "bold" if index == 0 else "normal"),
                anchor="w",
                padx=8,
                pady=4,
                wraplength=270,
                justify="left",
                cursor="hand2",
            )
            label.pack(fill="x", pady=1)
            label.bind("<Button-1>", self._opener(conversation_url(self.base_url, a.conversation_id)))
            self.alert_labels.append(label)
        self.root.bell()
        self.notify(self.words._("Switchboard"), alert.text)
        self.root.deiconify()
        self.root.lift()


class WidgetApp:
    """The window plus the client that feeds it."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        root: tk.Tk | None = None,
        open_url: Callable[[str], object] = webbrowser.open,
        words: Words = ENGLISH,
        notify: Callable[[str, str], object] = desktop_notify,
        **client_options: Any,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.words = words
        self.root = root if root is not None else tk.Tk(className="Switchboard")
        self.window = WidgetWindow(
            self.root, base_url=base_url, open_url=open_url, words=words, notify=notify, set_status=self._set_status
        )
        self.message_alerts = MessageAlerts()
        self.client_options = client_options
        self.client: AgentClient | None = None
        self.view: WidgetView | None = None
        self.alive = True
        self._pending: asyncio.Task[p.StatusResult] | None = None
        self.root.protocol("WM_DELETE_WINDOW", self._closed)

    def _closed(self) -> None:
        self.alive = False

    async def start(self) -> None:
        self.client = await AgentClient.from_http(
            self.base_url, self.token, on_change=self._changed, on_state=lambda _s: self._redraw(), **self.client_options
        )
        await self.client.connect()
        self._redraw()

    def _set_status(self, status: str) -> None:
        """The agent picked a routing status in the window."""
        client = self.client
        if client is not None and status in ROUTING_STATUSES:
            self._pending = asyncio.get_event_loop().create_task(client.set_status(cast(p.AgentStatus, status)))

    def _changed(self, mirror: Mirror, changes: list[Change]) -> None:
        self._redraw()
        for alert in [*alerts_of(mirror, changes, self.words), *self.message_alerts(mirror, changes, self.words)]:
            self.window.alert(alert)

    def _redraw(self) -> None:
        client = self.client
        if client is None:
            return
        agent = client.welcome.agent.name if client.welcome else ""
        self.view = view_of(client.mirror, client.state, agent, self.words)
        self.window.show(self.view)

    def pump(self) -> None:
        """Let Tk draw and handle clicks."""
        self.root.update()

    async def run(self) -> None:
        while self.alive:
            self.pump()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.alive = False
        if self.client is not None:
            await self.client.close()
        self.root.destroy()


async def run(base_url: str, token: str, lang: str | None = None) -> None:
    app = WidgetApp(base_url, token, words=Words(pick_language([lang] if lang else system_languages())))
    try:
        await app.start()
    except AuthError as e:
        app.root.destroy()
        raise SystemExit(f"switchboard widget: the token was refused ({e.code}); get a new one") from None
    except OSError as e:
        app.root.destroy()
        raise SystemExit(f"switchboard widget: cannot reach {base_url}: {e}") from None
    try:
        await app.run()
    finally:
        await app.close()


def main(token: str, url: str, lang: str | None = None) -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(run(url, token, lang))
    except KeyboardInterrupt:
        pass
