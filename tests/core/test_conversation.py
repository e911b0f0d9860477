"""Conversation rules, one test (or a few) per rule of the spec. Pure: no I/O."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from protocol import errors
from server.core import conversation as rules
from server.core.errors import DomainError
from server.core.model import Agent, Contact, Conversation, Inbound, Message, Template, Touchpoint, WindowPolicy

WA = Touchpoint(id="wa", channel="whatsapp", name="+1 555", queue_id="sales")
FB = Touchpoint(id="fb", channel="messenger", name="Acme", queue_id="support")
WA_POLICY = WindowPolicy(window_seconds=24 * 3600, templates=True)
FB_POLICY = WindowPolicy(window_seconds=24 * 3600, extended_seconds=7 * 24 * 3600)
ANA = Agent(id="ana", name="Ana", queues=("sales",))
BRUNO = Agent(id="bruno", name="Bruno", queues=("sales", "support"))
CARLA = Agent(id="carla", name="Carla", queues=("support",))
SOFIA = Agent(id="sofia", name="Sofia", role="supervisor")
CUSTOMER = Contact(id="whatsapp:5511", channel="whatsapp", address="5511")
FB_CUSTOMER = Contact(id="messenger:psid1", channel="messenger", address="psid1", profile_name="Rosa Lima")
HOUR = 3600 * 1000
T0 = 1_700_000_000_000


def inbound(text: str, at: int, mid: str | None = None) -> Inbound:
    return Inbound(kind="text", text=text, at=at, channel_message_id=mid)


def receive(latest: Conversation | None, text: str = "hi", at: int = T0, *, tp: Touchpoint = WA, n: int = 1) -> rules.Outcome:
    policy = WA_POLICY if tp.channel == "whatsapp" else FB_POLICY
    contact = CUSTOMER if tp.channel == "whatsapp" else FB_CUSTOMER
    return rules.receive(
        latest,
        new_conversation_id=f"c{n}",
        message_id=f"m{at}",
        entry_id=f"t{at}",
        touchpoint=tp,
        contact=contact,
        inbound=inbound(text, at),
        policy=policy,
        now=at,
    )


def open_conv(tp: Touchpoint = WA, at: int = T0) -> Conversation:
    return receive(None, at=at, tp=tp).after


def claimed(agent: Agent = ANA, tp: Touchpoint = WA) -> Conversation:
    return rules.claim(open_conv(tp), agent).after


def code_of(fn, *args, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as e:
        fn(*args, **kw)
    return e.value.code


# --------------------------------------------------------------------------- inbound


def test_first_message_creates_conversation_in_touchpoint_queue_inbox() -> None:
    out = receive(None, "Olá")
    c = out.after
    assert out.before is None
    assert (c.queue_id, c.assignee_id, c.status, c.channel) == ("sales", None, "open", "whatsapp")
    assert c.message_count == 1 and out.message is not None and out.message.seq == 1
    assert out.message.direction == "in" and out.message.status == "received"


def test_next_message_appends_to_the_open_conversation() -> None:
    first = receive(None, "one").after
    out = receive(first, "two", at=T0 + 1000)
    assert out.after.id == first.id and out.before == first
    assert out.after.message_count == 2 and out.message is not None and out.message.seq == 2
    assert out.after.version == first.version + 1


def test_reply_after_end_chat_starts_a_new_conversation_in_the_inbox() -> None:
    ended = rules.end(claimed(), ANA, T0 + 1000).after
    out = receive(ended, "me again", at=T0 + 2000, n=2)
    assert out.before is None
    assert out.after.id == "c2" and out.after.id != ended.id
    assert out.after.assignee_id is None and out.after.status == "open"
    assert out.after.message_count == 1


def test_preview_and_last_message_time_follow_sent_and_received() -> None:
    c = claimed()
    out = rules.send(c, ANA, "Claro,\n  posso ajudar!", message_id="m2", policy=WA_POLICY, now=T0 + 5000)
    assert out.after.preview == "Claro, posso ajudar!" and out.after.preview_direction == "out"
    assert out.after.last_message_at == T0 + 5000
    back = receive(out.after, "x" * 200, at=T0 + 9000)
    assert back.after.preview_direction == "in" and len(back.after.preview) == 80 and back.after.preview.endswith("…")
    assert back.after.last_message_at == T0 + 9000


# --------------------------------------------------------------------------- unread


def test_unread_counts_received_messages_and_read_clears_it() -> None:
    c = claimed()
    c = receive(c, "2", at=T0 + 1).after
    c = receive(c, "3", at=T0 + 2).after
    assert c.unread == 3
    out = rules.read(c, ANA)
    assert out is not None and out.after.unread == 0


def test_read_by_someone_else_does_not_clear_the_assignees_bubble() -> None:
    c = claimed()
    assert rules.read(c, SOFIA) is None
    assert code_of(rules.read, c, BRUNO) == errors.NOT_ASSIGNEE  # and he learns nothing of it
    assert rules.read(open_conv(), BRUNO) is None  # an inbox conversation he may look at


def test_read_with_nothing_unread_changes_nothing() -> None:
    c = rules.read(claimed(), ANA).after  # type: ignore[union-attr]
    assert rules.read(c, ANA) is None


def test_replying_clears_unread() -> None:
    out = rules.send(claimed(), ANA, "ok", message_id="m2", policy=WA_POLICY, now=T0 + 1)
    assert out.after.unread == 0


# --------------------------------------------------------------------------- claim / assign / send to inbox / end


def test_claim_assigns_to_the_claimer() -> None:
    out = rules.claim(open_conv(), ANA)
    assert out.after.assignee_id == "ana" and out.after.version == out.before.version + 1  # type: ignore[union-attr]


def test_second_claim_loses_with_already_assigned() -> None:
    c = claimed(ANA)
    assert code_of(rules.claim, c, BRUNO) == errors.ALREADY_ASSIGNED


def test_claiming_ones_own_conversation_again_is_a_no_op() -> None:
    c = claimed(ANA)
    out = rules.claim(c, ANA)
    assert out.after is c


def test_claim_outside_ones_queues_is_forbidden() -> None:
    assert code_of(rules.claim, open_conv(), CARLA) == errors.FORBIDDEN


def test_supervisor_assigns_to_a_named_agent_even_from_another() -> None:
    c = claimed(ANA)
    out = rules.assign(c, SOFIA, BRUNO)
    assert out.after.assignee_id == "bruno"


def test_only_supervisors_assign() -> None:
    assert code_of(rules.assign, open_conv(), ANA, BRUNO) == errors.FORBIDDEN


def test_assign_to_agent_outside_the_queue_is_refused() -> None:
    assert code_of(rules.assign, open_conv(), SOFIA, CARLA) == errors.INVALID_ARGUMENT


def test_send_to_inbox_returns_to_the_original_queue() -> None:
    c = claimed(BRUNO)
    moved = replace(c, queue_id="support")  # wherever it wandered, it goes home
    out = rules.send_to_inbox(moved, BRUNO, WA)
    assert out.after.assignee_id is None and out.after.queue_id == "sales"


def test_send_to_inbox_by_a_non_assignee_is_refused() -> None:
    assert code_of(rules.send_to_inbox, claimed(ANA), BRUNO, WA) == errors.NOT_ASSIGNEE


def test_end_chat_is_final() -> None:
    ended = rules.end(claimed(), ANA, T0 + 10).after
    assert ended.status == "ended" and ended.ended_at == T0 + 10 and ended.ended_by == "ana"
    for fn, args in [
        (rules.claim, (ended, BRUNO)),
        (rules.end, (ended, ANA, T0)),
        (rules.send_to_inbox, (ended, ANA, WA)),
    ]:
        assert code_of(fn, *args) == errors.CONVERSATION_ENDED


def test_end_by_non_assignee_refused_but_supervisor_may() -> None:
    c = claimed(ANA)
    assert code_of(rules.end, c, BRUNO, T0) == errors.NOT_ASSIGNEE
    assert rules.end(c, SOFIA, T0).after.status == "ended"


# --------------------------------------------------------------------------- sending and the 24-hour session


def test_agent_sends_while_session_is_open() -> None:
    out = rules.send(claimed(), ANA, "hello", message_id="m2", policy=WA_POLICY, now=T0 + 23 * HOUR)
    assert out.message is not None and out.message.status == "pending" and out.message.direction == "out"
    assert out.message.author_id == "ana" and out.message.seq == 2


def test_only_the_assignee_sends() -> None:
    assert code_of(rules.send, claimed(ANA), BRUNO, "x", message_id="m", policy=WA_POLICY, now=T0) == errors.NOT_ASSIGNEE
    assert code_of(rules.send, open_conv(), ANA, "x", message_id="m", policy=WA_POLICY, now=T0) == errors.NOT_ASSIGNEE


def test_empty_or_huge_text_is_refused() -> None:
    c = claimed()
    assert code_of(rules.send, c, ANA, "  \n", message_id="m", policy=WA_POLICY, now=T0) == errors.INVALID_ARGUMENT
    big = "x" * (rules.MAX_TEXT + 1)
    assert code_of(rules.send, c, ANA, big, message_id="m", policy=WA_POLICY, now=T0) == errors.INVALID_ARGUMENT


def test_free_text_refused_with_session_locked_after_24_hours() -> None:
    c = claimed()
    late = T0 + 24 * HOUR
    assert code_of(rules.send, c, ANA, "hello?", message_id="m2", policy=WA_POLICY, now=late) == errors.SESSION_LOCKED


def test_template_allowed_outside_the_session() -> None:
    t = Template(name="hello", language="en_US", text="Hi {{1}}, about order {{2}}")
    out = rules.send_template(claimed(), ANA, t, ["Rosa", "42"], message_id="m2", policy=WA_POLICY, now=T0 + 48 * HOUR)
    assert out.message is not None and out.message.kind == "template"
    assert out.message.text == "Hi Rosa, about order 42"
    assert code_of(
        rules.send_template, claimed(), ANA, t, ["Rosa"], message_id="m3", policy=WA_POLICY, now=T0
    ) == errors.INVALID_ARGUMENT


def test_expiry_locks_once_and_a_new_message_unlocks() -> None:
    c = claimed()
    assert c.session_locked is False
    assert rules.expire(c, WA_POLICY, T0 + 24 * HOUR - 1, message_id="mlock") is None  # not yet
    locked = rules.expire(c, WA_POLICY, T0 + 24 * HOUR, message_id="mlock")
    assert locked is not None and locked.after.session_locked is True
    assert rules.expire(locked.after, WA_POLICY, T0 + 25 * HOUR, message_id="mlock") is None  # exactly once
    renewed = receive(locked.after, "back", at=T0 + 30 * HOUR)
    assert renewed.after.session_locked is False
    assert rules.send(renewed.after, ANA, "welcome back", message_id="m9", policy=WA_POLICY, now=T0 + 31 * HOUR)


def test_a_lock_decided_ahead_is_the_lock_decided_at_its_moment_or_later() -> None:
    """``expire_ahead`` + ``stamped`` (a storm prepared before it is due):
    the same outcome ``expire`` decides at any time from the moment on."""
    for conv, policy in ((claimed(), WA_POLICY), (receive(claimed(), "more", at=T0 + 5 * HOUR).after, WA_POLICY), (claimed(CARLA, FB), FB_POLICY)):
        ahead = rules.expire_ahead(conv, policy, message_id="mlock")
        assert ahead is not None
        due, lock = ahead
        assert rules.expire(conv, policy, due - 1, message_id="mlock") is None  # the moment is the first that locks
        for now in (due, due + 1, due + 3 * HOUR):
            assert rules.stamped(lock, now) == rules.expire(conv, policy, now, message_id="mlock")
    locked = rules.expire(claimed(), WA_POLICY, T0 + 24 * HOUR, message_id="mlock")
    assert locked is not None
    assert rules.expire_ahead(locked.after, WA_POLICY, message_id="m") is None  # locked already: nothing ahead
    assert rules.expire_ahead(replace(claimed(), last_inbound_at=None), WA_POLICY, message_id="m") is None  # no window


def test_a_lock_and_an_unlock_each_write_a_timeline_entry_in_the_same_outcome() -> None:
    c = claimed()
    locked = rules.expire(c, WA_POLICY, T0 + 24 * HOUR, message_id="mlock")
    assert locked is not None and locked.message is not None
    entry = locked.message
    assert (entry.id, entry.kind, entry.meta, entry.seq) == ("mlock", "timeline", {"event": "locked"}, c.message_count + 1)
    assert (entry.at, entry.direction, entry.status) == (T0 + 24 * HOUR, "in", "received")
    after = locked.after
    assert after.message_count == entry.seq and after.unread == c.unread and after.preview == c.preview  # not a message of the contact
    renewed = receive(after, "back", at=T0 + 30 * HOUR)
    assert renewed.entry is not None and renewed.message is not None
    assert (renewed.entry.id, renewed.entry.kind, renewed.entry.meta) == (f"t{T0 + 30 * HOUR}", "timeline", {"event": "unlocked"})
    assert (renewed.entry.seq, renewed.message.seq) == (after.message_count + 1, after.message_count + 2)
    assert renewed.after.message_count == renewed.message.seq and renewed.after.preview == "back"
    # Only a window that reopens gets one: not a first message, not one in an open window.
    assert receive(None).entry is None
    assert receive(renewed.after, "more", at=T0 + 31 * HOUR).entry is None


def test_a_message_that_comes_too_late_to_reopen_writes_no_unlock() -> None:
    locked = rules.expire(claimed(), WA_POLICY, T0 + 24 * HOUR, message_id="mlock")
    assert locked is not None
    # Sent (Meta's timestamp) before the lock, delivered after it: the window stays shut.
    late = rules.receive(
        locked.after, new_conversation_id="c9", message_id="m9", entry_id="t9", touchpoint=WA, contact=CUSTOMER,
        inbound=inbound("late", T0 + HOUR), policy=WA_POLICY, now=T0 + 48 * HOUR,
    )
    assert late.after.session_locked and late.entry is None and late.message is not None
    assert late.message.seq == locked.after.message_count + 1


def test_each_inbound_message_renews_the_window() -> None:
    c = receive(claimed(), "still here", at=T0 + 20 * HOUR).after
    assert rules.expire(c, WA_POLICY, T0 + 24 * HOUR, message_id="mlock") is None
    assert rules.send(c, ANA, "ok", message_id="m", policy=WA_POLICY, now=T0 + 43 * HOUR)
    assert rules.expire(c, WA_POLICY, T0 + 44 * HOUR, message_id="mlock") is not None


def test_messenger_replies_are_tagged_human_agent_then_refused_after_7_days() -> None:
    c = claimed(CARLA, FB)
    free = rules.send(c, CARLA, "hi", message_id="m1", policy=FB_POLICY, now=T0 + HOUR)
    assert free.message is not None and "tag" not in free.message.meta
    tagged = rules.send(c, CARLA, "hi", message_id="m2", policy=FB_POLICY, now=T0 + 3 * 24 * HOUR)
    assert tagged.message is not None and tagged.message.meta["tag"] == "HUMAN_AGENT"
    assert code_of(rules.send, c, CARLA, "hi", message_id="m3", policy=FB_POLICY, now=T0 + 7 * 24 * HOUR) == errors.SESSION_LOCKED
    assert rules.expire(c, FB_POLICY, T0 + 3 * 24 * HOUR, message_id="mlock") is None
    assert rules.expire(c, FB_POLICY, T0 + 7 * 24 * HOUR, message_id="mlock") is not None


def test_messenger_has_no_templates() -> None:
    t = Template(name="hello", language="en_US", text="Hi")
    assert code_of(
        rules.send_template, claimed(CARLA, FB), CARLA, t, [], message_id="m", policy=FB_POLICY, now=T0
    ) == errors.NOT_SUPPORTED_ON_CHANNEL


# --------------------------------------------------------------------------- outbound start


def test_outbound_whatsapp_conversation_starts_with_a_template_assigned_to_the_agent() -> None:
    t = Template(name="hello", language="en_US", text="Hi {{1}}")
    out = rules.start(
        None, new_conversation_id="c9", message_id="m9", actor=ANA, touchpoint=WA, contact=CUSTOMER,
        policy=WA_POLICY, now=T0, template=t, params=["Rosa"],
    )
    assert out.before is None and out.after.assignee_id == "ana" and out.after.origin == "outbound"
    assert out.after.session_locked is True  # no window until the contact writes
    assert out.message is not None and out.message.text == "Hi Rosa"


def test_outbound_free_text_refused_without_a_session() -> None:
    kw = dict(new_conversation_id="c9", message_id="m9", actor=ANA, touchpoint=WA, contact=CUSTOMER, policy=WA_POLICY, now=T0)
    assert code_of(rules.start, None, body="hello", **kw) == errors.SESSION_LOCKED


def test_outbound_free_text_allowed_while_the_contacts_window_is_still_open() -> None:
    ended = rules.end(claimed(), ANA, T0 + HOUR).after
    out = rules.start(
        ended, new_conversation_id="c9", message_id="m9", actor=ANA, touchpoint=WA, contact=CUSTOMER,
        policy=WA_POLICY, now=T0 + 2 * HOUR, body="one more thing",
    )
    assert out.after.session_locked is False and out.after.id == "c9"


def test_outbound_refused_when_an_open_conversation_exists() -> None:
    kw = dict(new_conversation_id="c9", message_id="m9", actor=ANA, touchpoint=WA, contact=CUSTOMER, policy=WA_POLICY, now=T0)
    assert code_of(rules.start, open_conv(), body="x", **kw) == errors.CONVERSATION_OPEN


def test_outbound_on_a_touchpoint_outside_ones_queues_is_forbidden() -> None:
    kw = dict(new_conversation_id="c9", message_id="m9", actor=CARLA, touchpoint=WA, contact=CUSTOMER, policy=WA_POLICY, now=T0)
    assert code_of(rules.start, None, body="x", **kw) == errors.FORBIDDEN


# --------------------------------------------------------------------------- whatsapp-only features


def test_notes_on_whatsapp_and_refused_on_messenger() -> None:
    out = rules.add_note(claimed(), ANA, "VIP customer", note_id="n1", now=T0)
    assert out.note is not None and out.note.text == "VIP customer" and out.after is out.before
    assert code_of(rules.add_note, claimed(CARLA, FB), CARLA, "x", note_id="n", now=T0) == errors.NOT_SUPPORTED_ON_CHANNEL


def test_wrap_up_after_end_chat_with_a_configured_disposition() -> None:
    c = claimed()
    assert code_of(rules.wrap_up, c, ANA, "Resolved", "", dispositions=["Resolved"], now=T0) == errors.CONVERSATION_OPEN
    ended = rules.end(c, ANA, T0 + 1).after
    assert code_of(rules.wrap_up, ended, ANA, "Nope", "", dispositions=["Resolved"], now=T0) == errors.INVALID_ARGUMENT
    out = rules.wrap_up(ended, ANA, "Resolved", "asked for refund", dispositions=["Resolved"], now=T0 + 2)
    assert out.after.wrap_up is not None and out.after.wrap_up.disposition == "Resolved"
    assert out.after.wrap_up.note == "asked for refund"


def test_wrap_up_refused_on_messenger() -> None:
    ended = rules.end(claimed(CARLA, FB), CARLA, T0).after
    assert code_of(rules.wrap_up, ended, CARLA, "Resolved", "", dispositions=["Resolved"], now=T0) == errors.NOT_SUPPORTED_ON_CHANNEL


# --------------------------------------------------------------------------- delivery states


def _sent_message() -> tuple[Conversation, rules.Outcome]:
    out = rules.send(claimed(), ANA, "hello", message_id="m2", policy=WA_POLICY, now=T0 + 1)
    return out.after, out


def test_delivery_states_only_move_forward() -> None:
    conv, out = _sent_message()
    m = out.message
    assert m is not None
    sent = rules.delivery(conv, m, "sent", channel_message_id="wamid.1")
    assert sent is not None and sent.updated_message is not None
    assert sent.updated_message.status == "sent" and sent.updated_message.channel_message_id == "wamid.1"
    read = rules.delivery(conv, sent.updated_message, "read")  # read may skip delivered
    assert read is not None and read.updated_message is not None and read.updated_message.status == "read"
    assert rules.delivery(conv, read.updated_message, "delivered") is None  # never backwards
    assert rules.delivery(conv, read.updated_message, "read") is None  # repeated
    assert rules.delivery(conv, read.updated_message, "failed") is None  # too late to fail


def test_failure_carries_the_channels_error_and_can_lock_the_window() -> None:
    conv, out = _sent_message()
    assert out.message is not None
    failed = rules.delivery(conv, out.message, "failed", error=("131047", "Re-engagement message"), window_closed=True)
    assert failed is not None and failed.updated_message is not None
    assert (failed.updated_message.status, failed.updated_message.error_code) == ("failed", "131047")
    assert failed.after.session_locked is True
    assert code_of(rules.send, failed.after, ANA, "x", message_id="m", policy=WA_POLICY, now=T0 + 2) == errors.SESSION_LOCKED


# --------------------------------------------------------------------------- rights


def test_can_view() -> None:
    inbox = open_conv()
    assert rules.can_view(ANA, inbox) and rules.can_view(BRUNO, inbox) and rules.can_view(SOFIA, inbox)
    assert not rules.can_view(CARLA, inbox)
    mine = rules.claim(inbox, ANA).after
    assert rules.can_view(ANA, mine) and rules.can_view(SOFIA, mine)
    assert not rules.can_view(BRUNO, mine)
    ended = rules.end(mine, ANA, T0).after
    assert rules.can_view(ANA, ended) and not rules.can_view(BRUNO, ended)


# --------------------------------------------------------------------------- edits, deletions, notices (WhatsApp)


def _thread_of_two() -> tuple[Conversation, Message, Message]:
    conv = Conversation(
        id="c1", channel="whatsapp", touchpoint_id="wa", queue_id="q", contact_id="k", created_at=0, message_count=2, preview="dois"
    )
    first = Message(id="m1", conversation_id="c1", seq=1, direction="in", kind="text", text="um", at=1, status="received")
    last = Message(id="m2", conversation_id="c1", seq=2, direction="in", kind="image", text="[image] dois", at=2, status="received", meta={"caption": "dois"})
    return conv, first, last


def test_an_edit_changes_the_message_keeps_the_old_text_and_moves_the_preview_only_for_the_last() -> None:
    conv, first, last = _thread_of_two()
    edited = rules.revise(conv, first, "UM", at=10, keep_deleted_text=False)
    assert edited is not None and edited.message is None
    assert edited.updated_message is not None
    assert (edited.updated_message.text, edited.updated_message.edited_at, edited.updated_message.previous_texts) == ("UM", 10, ("um",))
    assert edited.after.preview == "dois" and edited.after.message_count == 2
    caption = rules.revise(conv, last, "DOIS", at=11, keep_deleted_text=False)
    assert caption is not None and caption.updated_message is not None
    assert caption.updated_message.text == "[image] DOIS" and caption.updated_message.meta["caption"] == "DOIS"
    assert caption.after.preview == "[image] DOIS"


def test_a_deletion_drops_the_text_unless_kept_and_is_final() -> None:
    conv, _first, last = _thread_of_two()
    gone = rules.revise(conv, last, None, at=12, keep_deleted_text=False)
    assert gone is not None and gone.updated_message is not None
    deleted = gone.updated_message
    assert (deleted.text, deleted.deleted_at, deleted.previous_texts, "caption" in deleted.meta) == ("", 12, (), False)
    assert gone.after.preview == rules.DELETED_PREVIEW
    kept = rules.revise(conv, last, None, at=12, keep_deleted_text=True)
    assert kept is not None and kept.updated_message is not None and kept.updated_message.previous_texts == ("[image] dois",)
    assert rules.revise(gone.after, deleted, "again", at=13, keep_deleted_text=False) is None


def test_a_notice_line_neither_opens_the_window_nor_counts_as_unread() -> None:
    conv, _, _ = _thread_of_two()
    outcome = rules.notice(conv, message_id="m3", body="User changed number", at=20)
    assert outcome.message is not None and outcome.message.kind == "system" and outcome.message.seq == 3
    assert (outcome.after.unread, outcome.after.last_inbound_at, outcome.after.message_count) == (conv.unread, conv.last_inbound_at, 3)
