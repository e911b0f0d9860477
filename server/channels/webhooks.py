"""Meta's webhook events, applied: each parsed event (server/channels/
events.py) becomes one intake use case. The HTTP side (signature, status
codes, Meta's retries) is server/http/webhooks.py."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Protocol

from msgspec.structs import replace

from server.app import App
from server.channels import events as ev
from server.core import identity
from server.core.model import Channel, Touchpoint
from server.metrics import Metrics

log = logging.getLogger(__name__)

ProfileLookup = Callable[[Touchpoint, str], Awaitable[str | None]]


class MediaFetcher(Protocol):
    def fetch(self, message_id: str) -> None:
        """Start fetching the message's file; returns at once."""



class Inbox:
    """Applies a parsed batch to the app's intake, event by event, in order.
    Raises whatever the store raises: the endpoint turns that into a 503."""

    def __init__(
        self, app: App, metrics: Metrics, *, profiles: ProfileLookup | None = None, downloads: MediaFetcher | None = None
    ) -> None:
        self.downloads = downloads
        """Fetches a new message's file in the background (app/media.py)."""
        self.intake = app.intake
        self.directory = app.directory
        self.clock = app.clock
        self.metrics = metrics
        self.profiles = profiles
        self.touchpoints = {(tp.channel, tp.address): tp for tp in app.catalog.touchpoints.values() if tp.address}

    async def apply(self, batch: ev.Batch) -> Counter[str]:
        """Returns what happened to the events, by outcome."""
        tally: Counter[str] = Counter()
        for event in batch.events:
            outcome = await self._one(event)
            tally[outcome] += 1
            self.metrics.channel.inc(1, batch.channel, outcome)
        return tally

    def _touchpoint(self, channel: Channel, address: str) -> Touchpoint | None:
        tp = self.touchpoints.get((channel, address))
        if tp is None:
            log.warning("%s webhook for unknown touchpoint %s: not configured here, ignored", channel, address)
        return tp

    async def _one(self, event: ev.Event) -> str:
        match event:
            case ev.Rejected(channel=channel, reason=reason):
                log.warning("%s webhook item rejected: %s", channel, reason)
                return "rejected"
            case ev.Ignored(channel=channel, what=what):
                log.debug("%s webhook: ignored %s", channel, what)
                return "ignored"
            case ev.InboundMessage():
                return await self._inbound(event)
            case ev.StatusReport():
                return await self._status(event)
            case ev.Watermark():
                return await self._watermark(event)
            case ev.Echo():
                return await self._echo(event)
            case ev.Revision():
                return await self._revision(event)
            case ev.IdentityChange():
                return await self._identity_change(event)
            case ev.ChatOpened():
                return await self._chat_opened(event)
        log.error("webhook: no handler for %s", type(event).__name__)
        return "unhandled"

    async def _inbound(self, event: ev.InboundMessage) -> str:
        tp = self._touchpoint(event.channel, event.touchpoint)
        if tp is None:
            self.metrics.webhooks.inc(1, "unknown_touchpoint")
            return "unknown_touchpoint"
        inbound = event.inbound
        now = self.clock()
        # Meta's time anchors the reply window; a clock ahead of ours must not stretch it.
        at = inbound.at if 0 < inbound.at <= now else now
        meta = inbound.meta
        # A reaction goes on the message it reacts to; a line of its own only when that one is unknown here.
        reacted = inbound.kind == "reaction" and event.reply_to is not None
        if reacted and await self.intake.react(tp.id, event.reply_to or "", meta.get("emoji", "")):
            return "reaction"
        quote = None
        if event.reply_to:
            quote = await self.intake.quote_of(event.reply_to)
            if quote is not None:
                meta = {**meta, "reply_to": quote.id}
        inbound = replace(inbound, at=at, meta=meta, quote=quote if inbound.kind != "reaction" else None)
        try:
            who = identity.from_channel(event.channel, event.address, event.user_id, event.username)
        except identity.InvalidAddress as e:
            log.warning("%s webhook: message %s refused: %s", event.channel, inbound.channel_message_id, e.message)
            return "rejected"
        profile_name = event.profile_name
        if profile_name is None and event.channel == "messenger" and self.profiles is not None:
            known = await self.directory.find(who)
            if not known or not known[0].profile_name:
                profile_name = await self.profiles(tp, event.address)
        outcome = await self.intake.receive(tp.id, who, inbound, profile_name=profile_name)
        if outcome is None:
            return "duplicate"
        if outcome.message is not None and outcome.message.media is not None and self.downloads is not None:
            self.downloads.fetch(outcome.message.id)
        return "message"

    async def _revision(self, event: ev.Revision) -> str:
        """An edit or a deletion changes the original message; it is never
        a message of its own. One about a message we never stored (sent
        before Switchboard, or long gone) changes nothing."""
        tp = self._touchpoint(event.channel, event.touchpoint)
        if tp is None:
            return "unknown_touchpoint"
        changed = await self.intake.revise(tp.id, event.target, event.text, at=event.at or self.clock())
        what = "edit" if event.text is not None else "delete"
        return what if changed else f"{what}_unknown_message"

    async def _identity_change(self, event: ev.IdentityChange) -> str:
        tp = self._touchpoint(event.channel, event.touchpoint)
        if tp is None:
            return "unknown_touchpoint"
        try:
            old = identity.from_channel(event.channel, event.old_phone, event.old_user_id)
            new = identity.from_channel(event.channel, event.new_phone, event.new_user_id)
        except identity.InvalidAddress as e:
            log.warning("%s webhook: identity change refused: %s", event.channel, e.message)
            return "rejected"
        known = await self.intake.identity_changed(tp.id, old, new, event.notice, at=event.at)
        return "identity_change" if known else "identity_change_unknown_contact"

    async def _chat_opened(self, event: ev.ChatOpened) -> str:
        tp = self._touchpoint(event.channel, event.touchpoint)
        if tp is None:
            return "unknown_touchpoint"
        try:
            who = identity.from_channel(event.channel, event.address or None, event.user_id, event.username)
        except identity.InvalidAddress as e:
            log.warning("%s webhook: chat opened by an unreadable identity: %s", event.channel, e.message)
            return "rejected"
        await self.intake.chat_opened(tp.id, who, event.profile_name)
        return "chat_opened"

    async def _status(self, event: ev.StatusReport) -> str:
        tp = self._touchpoint(event.channel, event.touchpoint)
        if tp is None:
            return "unknown_touchpoint"
        message = await self.intake.outbound(tp.id, event.channel_message_id, event.our_id)
        if message is None:
            # Sent by another tool on this number, or long forgotten: nothing to show.
            return "status_unknown_message"
        changed = await self.intake.delivery(
            message.id,
            event.status,
            channel_message_id=event.channel_message_id,
            error=event.error,
            window_closed=event.window_closed,
        )
        return "status" if changed else "status_stale"

    async def _watermark(self, event: ev.Watermark) -> str:
        """Messenger says every message the Page sent before ``watermark`` is
        delivered (or read). Walk our side of the contact's latest
        conversation back, page by page from the newest, until a page holds
        nothing left to move: older ones were settled by an earlier watermark."""
        tp = self._touchpoint(event.channel, event.touchpoint)
        if tp is None:
            return "unknown_touchpoint"
        try:
            who = identity.from_channel(event.channel, event.address)
        except identity.InvalidAddress as e:
            log.warning("%s webhook: receipt from an unreadable identity refused: %s", event.channel, e.message)
            return "rejected"
        await self.intake.watermark(tp.id, who, event.status, event.watermark, event.mids)
        return "watermark"

    async def _echo(self, event: ev.Echo) -> str:
        """The Page sent a message. Ours: record Meta's id and mark it sent
        (the echo may beat the send answer). Another tool's: not shown in the
        thread (see docs/CHANNELS.md)."""
        tp = self._touchpoint(event.channel, event.touchpoint)
        if tp is None:
            return "unknown_touchpoint"
        message = await self.intake.outbound(tp.id, event.channel_message_id, event.our_id)
        if message is None:
            log.info("echo of %s on %s sent by another tool: not shown", event.channel_message_id, tp.id)
            return "echo_foreign"
        await self.intake.delivery(message.id, "sent", channel_message_id=event.channel_message_id)
        return "echo"
