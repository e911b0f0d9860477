"""The desktop widget: an agent's counters and alerts in a small
always-on-top window (``switchboard widget``). ``view`` holds the pure view
state; ``app`` the Tk window (imported lazily: Tk is only needed to draw)."""

from clients.widget.view import Alert, Row, WidgetView, alerts_of, conversation_url, view_of

__all__ = ["Alert", "Row", "WidgetView", "alerts_of", "conversation_url", "view_of"]
