"""Asyncio client for the Switchboard agent websocket.

``AgentClient`` connects with a token, keeps a ``Mirror`` of the agent's
state, delivers sequence-checked events, reconnects and resumes by itself,
and exposes every protocol command as an awaitable method. Message shapes
are the ``protocol`` package's Structs, shared with the server.
"""

from clients.switchboard_client.client import AgentClient, State, Stats, Update, backoff_delay, ws_url_from_http
from clients.switchboard_client.errors import (
    AlreadyAssigned,
    AuthError,
    ClientClosed,
    ClientError,
    CommandError,
    ConnectionLost,
    NotConnected,
    SessionLocked,
    command_error,
)
from clients.switchboard_client.mirror import Change, Mirror, Thread
from clients.switchboard_client.sequencer import Gap, Sequencer

__all__ = [
    "AgentClient",
    "AlreadyAssigned",
    "AuthError",
    "Change",
    "ClientClosed",
    "ClientError",
    "CommandError",
    "ConnectionLost",
    "Gap",
    "Mirror",
    "NotConnected",
    "Sequencer",
    "SessionLocked",
    "State",
    "Stats",
    "Thread",
    "Update",
    "backoff_delay",
    "command_error",
    "ws_url_from_http",
]
