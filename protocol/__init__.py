"""Typed protocol shared by the server and every client (see docs/PROTOCOL.md)."""

from protocol.messages import *  # noqa: F403
from protocol.messages import PROTOCOL_VERSION  # noqa: F401
