"""Core values → protocol views (what clients see). Pure."""

from __future__ import annotations

import functools

from protocol import messages as p
from server.core import identity, media, permissions, session, text
from server.core.model import (
    Agent,
    Contact,
    Conversation,
    Location,
    Media,
    Message,
    Note,
    Offer,
    Touchpoint,
    WindowPolicy,
    WrapUp,
)


def agent_view(agent: Agent) -> p.AgentView:
    """How an agent is shown (welcome, directory, the dev log-in list)."""
    return p.AgentView(id=agent.id, name=agent.name, role=agent.role, queues=list(agent.queues))


def contact_view(contact: Contact) -> p.ContactView:
    """Known contact: directory name and initials. Unknown WhatsApp contact:
    the username, else the phone number formatted for people, no initials.
    Messenger: the Facebook profile name. See ``identity.display``."""
    display = identity.display(contact)
    known_name = contact.name or (contact.profile_name if contact.channel != "whatsapp" else None)
    return p.ContactView(
        id=contact.id,
        channel=contact.channel,
        address=contact.address,
        display_name=display,
        initials=text.initials(known_name) if known_name else None,
        known=contact.known,
        username=contact.username,
    )


_shown = functools.lru_cache(maxsize=4096)(contact_view)
"""``contact_view`` kept per distinct Contact value, for summaries (built for
every stored change, before and after, and per row of a snapshot): the view
is a function of the whole Contact alone (a frozen, hashable Struct; every
field is compared on a hit), so a contact changed anywhere, on any node, is
a new key, never a stale view. The view is shared between the summaries that
carry it and never changed (nothing assigns to a view's fields)."""


def summary(conv: Conversation, contact: Contact, touchpoint: Touchpoint, policy: WindowPolicy) -> p.ConversationSummary:
    return p.ConversationSummary(
        id=conv.id,
        version=conv.version,
        channel=conv.channel,
        touchpoint_id=conv.touchpoint_id,
        touchpoint_name=touchpoint.name,
        queue_id=conv.queue_id,
        status=conv.status,
        assignee_id=conv.assignee_id,
        contact=_shown(contact),
        created_at=conv.created_at,
        last_message_at=conv.last_message_at,
        preview=conv.preview,
        preview_direction=conv.preview_direction,
        unread=conv.unread,
        session_expires_at=session.expires_at(conv, policy),
        session_locked=conv.session_locked,
        ended_at=conv.ended_at,
        wrapped_up=conv.wrap_up is not None,
        can=permissions.grants(conv, templates=policy.templates),
        preview_kind=conv.preview_kind,
        preview_duration_ms=conv.preview_duration_ms,
        offer=offer_view(conv.id, conv.offer) if conv.offer is not None else None,
    )


def offer_view(conv_id: str, offer: Offer) -> p.OfferView:
    return p.OfferView(
        conversation_id=conv_id, agent_id=offer.agent_id, at=offer.at, deadline=offer.deadline, by=offer.by, note=offer.note
    )


def message_view(m: Message) -> p.MessageView:
    error = p.MessageError(code=m.error_code, message=m.error_message or "") if m.error_code else None
    return p.MessageView(
        id=m.id,
        conversation_id=m.conversation_id,
        seq=m.seq,
        direction=m.direction,
        kind=m.kind,
        text=m.text,
        at=m.at,
        status=m.status,
        author_id=m.author_id,
        error=error,
        meta=m.meta,
        edited_at=m.edited_at,
        deleted=m.deleted_at is not None,
        media=media_view(m.media) if m.media is not None else None,
        location=location_view(m.location) if m.location is not None else None,
        contacts=[p.SharedContactView(name=c.name, phones=list(c.phones)) for c in m.contacts] if m.contacts else [],  # most share none
        reaction=m.reaction,
        reply_to=p.QuoteView(id=m.quote.id, kind=m.quote.kind, text=m.quote.text, direction=m.quote.direction) if m.quote else None,
    )


def media_view(m: Media) -> p.MediaView:
    """What clients see of a file: never where it came from (Meta's id or URL)."""
    return p.MediaView(
        kind=m.kind,
        state=m.state,
        mime_type=m.mime_type,
        filename=m.filename,
        size=m.size,
        voice=m.voice,
        thumbnail=bool(m.thumb_key),
        width=m.width,
        height=m.height,
        duration_ms=m.duration_ms,
        error=m.error,
    )


def location_view(loc: Location) -> p.LocationView:
    return p.LocationView(
        latitude=loc.latitude, longitude=loc.longitude, name=loc.name, address=loc.address, map_url=media.map_url(loc.latitude, loc.longitude)
    )


def note_view(n: Note) -> p.NoteView:
    return p.NoteView(id=n.id, conversation_id=n.conversation_id, author_id=n.author_id, text=n.text, at=n.at)


def wrap_up_view(conv_id: str, w: WrapUp) -> p.WrapUpView:
    return p.WrapUpView(conversation_id=conv_id, agent_id=w.agent_id, disposition=w.disposition, note=w.note, at=w.at)
