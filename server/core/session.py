"""The reply window ("24-hour session") of a conversation, as pure arithmetic.

A contact's message opens (or renews) the window; when it passes with no new
message from the contact, free-form replies are refused. WhatsApp then allows
only templates; Messenger allows replies tagged HUMAN_AGENT for an extended
period (7 days) and refuses after that."""

from __future__ import annotations

from typing import Literal

from server.core.model import Conversation, WindowPolicy

ReplyMode = Literal["free", "tagged", "locked"]


def expires_at(conv: Conversation, policy: WindowPolicy) -> int | None:
    """When the conversation locks (ms), or None when no window was ever opened."""
    if conv.last_inbound_at is None:
        return None
    seconds = policy.extended_seconds or policy.window_seconds
    return conv.last_inbound_at + int(seconds * 1000)


def reply_mode(conv: Conversation, policy: WindowPolicy, now: int) -> ReplyMode:
    if conv.last_inbound_at is None:
        return "locked"
    if now < conv.last_inbound_at + int(policy.window_seconds * 1000):
        return "free"
    lock_at = expires_at(conv, policy)
    if policy.extended_seconds and lock_at is not None and now < lock_at:
        return "tagged"
    return "locked"


def is_locked(conv: Conversation, policy: WindowPolicy, now: int) -> bool:
    return reply_mode(conv, policy, now) == "locked"
