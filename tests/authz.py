"""The authorization matrix: for every command and every event kind, an agent
outside the queue, a non-assignee and a revoked agent get nothing they should
not. Written once, run on one node (tests/server/test_authorization_matrix.py)
and across nodes (tests/cluster/test_authorization_matrix.py)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import httpx

from protocol import errors
from protocol import messages as p
from tests.conftest import token
from tests.wsagent import CommandError, WsAgent

WINDOW = 2.0
"""The WhatsApp window of the topologies, in seconds, so a lock happens."""


class Topology(Protocol):
    http: httpx.AsyncClient

    async def agent(self, agent_id: str, node: int, *, tok: str | None = None) -> WsAgent: ...

    async def inbound(self, text: str, *, address: str, touchpoint: str = "wa", node: int = 0) -> dict[str, Any]: ...

    def base(self, node: int) -> str: ...


TEMPLATE = p.TemplateRef(name="hello", language="en_US", params=["x"])

# Every command that names a conversation, with the fields it needs.
ON_CONVERSATION: dict[type[p.Command], dict[str, Any]] = {
    p.Claim: {},
    p.Assign: {"agent_id": "bruno"},
    p.SendToInbox: {},
    p.EndChat: {},
    p.SendMessage: {"text": "let me in"},
    p.SendTemplate: {"template": TEMPLATE},
    p.MarkRead: {},
    p.Open: {},
    p.Close: {},
    p.History: {"before": 100},
    p.Search: {"query": "secret"},
    p.AddNote: {"text": "x"},
    p.WrapUp: {"disposition": "Resolved"},
    p.GetContactCard: {},
    p.AcceptOffer: {},
    p.DeclineOffer: {},
    p.Transfer: {"queue_id": "support", "note": "x"},
}

NF, NA, AA, FB, ENDED, OPEN, NO = (
    errors.NOT_FOUND,
    errors.NOT_ASSIGNEE,
    errors.ALREADY_ASSIGNED,
    errors.FORBIDDEN,
    errors.CONVERSATION_ENDED,
    errors.CONVERSATION_OPEN,
    errors.NO_OFFER,
)
OK = "ok"  # answered, but with nothing about the conversation (Close of a thread one never opened)

# (who, which conversation) → what each command gets. Reads always answer
# not_found to those who may not see the thread: no content, not even whether
# it exists; writes name the rule that refuses them.
EXPECTED: dict[tuple[str, str], dict[type[p.Command], str]] = {
    ("outsider", "inbox"): {cmd: NF for cmd in ON_CONVERSATION} | {p.Close: OK},
    ("outsider", "assigned"): {cmd: NF for cmd in ON_CONVERSATION} | {p.Close: OK},
    ("outsider", "ended"): {cmd: NF for cmd in ON_CONVERSATION} | {p.Close: OK},
    ("non_assignee", "assigned"): {
        p.Claim: AA,
        p.Assign: FB,
        p.SendToInbox: NA,
        p.EndChat: NA,
        p.SendMessage: NA,
        p.SendTemplate: NA,
        p.MarkRead: NA,
        p.Open: NF,
        p.Close: OK,
        p.History: NF,
        p.Search: NF,
        p.AddNote: NA,
        p.WrapUp: OPEN,
        p.GetContactCard: NF,
        p.AcceptOffer: NO,
        p.DeclineOffer: NO,
        p.Transfer: NA,
    },
    ("non_assignee", "ended"): {
        p.Claim: ENDED,
        p.Assign: FB,
        p.SendToInbox: ENDED,
        p.EndChat: ENDED,
        p.SendMessage: ENDED,
        p.SendTemplate: ENDED,
        p.MarkRead: NA,
        p.Open: NF,
        p.Close: OK,
        p.History: NF,
        p.Search: NF,
        p.AddNote: NA,
        p.WrapUp: NA,
        p.GetContactCard: NF,
        p.AcceptOffer: ENDED,
        p.DeclineOffer: ENDED,
        p.Transfer: ENDED,
    },
}


async def outcome(agent: WsAgent, cmd: type[p.Command], **fields: Any) -> str:
    while True:
        try:
            result = await agent.call(cmd, **fields)
        except CommandError as e:
            if e.code == errors.RATE_LIMITED:  # the matrix is long: keep to the command rate
                await asyncio.sleep(0.2)
                continue
            return e.code
        break
    assert isinstance(result, p.Ok), f"{cmd.__name__} answered with data: {result}"
    return OK


async def setup(t: Topology) -> dict[str, str]:
    """Sales conversations in three states (in the inbox, Ana's, ended by
    Ana), one of the support queue; returns their ids by name."""
    ana = await t.agent("ana", 0)
    carla = await t.agent("carla", 0)
    inbox = (await t.inbound("inbox secret", address="5511000000001"))["conversation_id"]
    mine = (await t.inbound("assigned secret", address="5511000000002"))["conversation_id"]
    ended = (await t.inbound("ended secret", address="5511000000003"))["conversation_id"]
    support = (await t.inbound("support secret", address="psid-9", touchpoint="fb"))["conversation_id"]
    for cid in (mine, ended):
        await ana.call(p.Claim, conversation_id=cid)
    await ana.call(p.AddNote, conversation_id=mine, text="note secret")
    await ana.call(p.EndChat, conversation_id=ended)
    await ana.call(p.WrapUp, conversation_id=ended, disposition="Sale", note="wrap secret")
    await carla.call(p.Claim, conversation_id=support)
    await ana.close()
    await carla.close()
    return {"inbox": inbox, "assigned": mine, "ended": ended, "support": support}


async def check_commands(t: Topology, ids: dict[str, str]) -> None:
    outsider = await t.agent("carla", 1)  # support only: sales is not hers
    non_assignee = await t.agent("bruno", 1)  # in sales, but Ana has it
    who = {"outsider": outsider, "non_assignee": non_assignee}
    got: dict[tuple[str, str], dict[type[p.Command], str]] = {}
    for (role, conv), expected in EXPECTED.items():
        got[(role, conv)] = {
            cmd: await outcome(who[role], cmd, conversation_id=ids[conv], **fields)
            for cmd, fields in ON_CONVERSATION.items()
        }
        assert set(expected) == set(ON_CONVERSATION)
    wrong = {
        (role, conv, cmd.__name__): (got[(role, conv)][cmd], want)
        for (role, conv), expected in EXPECTED.items()
        for cmd, want in expected.items()
        if got[(role, conv)][cmd] != want
    }
    assert not wrong, f"(who, conversation, command): (got, expected) = {wrong}"
    # Commands without a conversation: an outbound start on a touchpoint of another queue.
    assert await outcome(outsider, p.StartConversation, touchpoint_id="wa", address="1", template=TEMPLATE) == FB
    # The REST API gives the same answers.
    for role, agent_id in (("outsider", "carla"), ("non_assignee", "bruno")):
        for conv in ("assigned", "ended") if role == "non_assignee" else ("inbox", "assigned", "ended"):
            for path in ("", "/search?q=secret"):
                r = await t.http.get(
                    f"{t.base(1)}/api/conversations/{ids[conv]}{path}", headers={"authorization": f"Bearer {token(agent_id)}"}
                )
                assert r.status_code == 404 and "secret" not in r.text, (role, conv, path)
    r = await t.http.get(f"{t.base(1)}/api/queues/sales/inbox", headers={"authorization": f"Bearer {token('carla')}"})
    assert r.status_code == 404
    await outsider.close()
    await non_assignee.close()


async def last_word(t: Topology, ana: WsAgent, sofia: WsAgent, outsider: WsAgent, non_assignee: WsAgent) -> None:
    """A barrier instead of a pause: one more customer writes on each queue,
    after every event above was published, and each watcher waits for the
    one it hears. A stream's events arrive in order, and publications (one
    process, or one Redis whose subscribers get messages in the order they
    were published) reach a node in the order they were made: anything that
    was going to reach a watcher is in its list once that word is."""
    sales = (await t.inbound("last word, sales", address="5511000000099", node=1))["conversation_id"]
    support = (await t.inbound("last word, support", address="psid-99", touchpoint="fb", node=0))["conversation_id"]
    for agent, cid in ((ana, sales), (sofia, sales), (sofia, support), (outsider, support), (non_assignee, sales), (non_assignee, support)):
        await agent.event(p.InboxAdded, lambda e, cid=cid: e.conversation.id == cid)


def mentions(agent: WsAgent, conv_ids: set[str]) -> list[str]:
    frames = [p.encoder.encode(e).decode() for e in agent.arrived] + [p.encoder.encode(f).decode() for f in agent.others]
    return [f for f in frames if any(cid in f for cid in conv_ids)]


async def check_events(t: Topology, ids: dict[str, str], *, deliver: Any = None) -> set[str]:
    """Drive every kind of event about Ana's conversation (and the queues) and
    check who hears of it. Returns the event kinds that were produced."""
    ana = await t.agent("ana", 0)
    sofia = await t.agent("sofia", 0)
    outsider = await t.agent("carla", 1)
    non_assignee = await t.agent("bruno", 1)
    revoked_token = token("bruno")
    revoked = await t.agent("bruno", 1, tok=revoked_token)
    r = await t.http.post(f"{t.base(0)}/api/logout", headers={"authorization": f"Bearer {revoked_token}"})
    assert r.status_code == 200
    await revoked.wait_for(lambda: revoked.close_code is not None or revoked.received(p.AccessRevoked), timeout=5)

    mine = ids["assigned"]
    await ana.call(p.Open, conversation_id=mine)
    await sofia.call(p.Open, conversation_id=mine)
    await t.inbound("assigned secret 2", address="5511000000002", node=1)  # message.created, assigned.updated
    await ana.event(p.MessageCreated, lambda e: e.message.text == "assigned secret 2")
    await ana.call(p.MarkRead, conversation_id=mine)  # conversation.updated
    sent = await ana.call(p.SendMessage, conversation_id=mine, text="reply secret")  # message.created
    if deliver is not None:
        await deliver(sent.message.id)  # message.updated
    await ana.call(p.AddNote, conversation_id=mine, text="note secret 2")  # note.added
    await ana.event(p.SessionLocked, lambda e: e.conversation_id == mine, timeout=WINDOW + 5)  # session.locked
    await t.inbound("assigned secret 3", address="5511000000002", node=1)  # session.unlocked
    await ana.event(p.SessionUnlocked, lambda e: e.conversation_id == mine)
    r = await t.http.put(
        f"{t.base(1)}/api/contacts/whatsapp/5511000000002",
        json={"name": "Secret Name"},
        headers={"authorization": f"Bearer {token('sofia')}"},
    )
    assert r.status_code == 200
    await ana.event(p.AssignedUpdated, lambda e: e.conversation.contact.display_name == "Secret Name")
    await ana.call(p.SendToInbox, conversation_id=mine)  # assigned.removed, inbox.added
    await ana.call(p.Claim, conversation_id=mine)  # inbox.removed, assigned.added
    await ana.call(p.EndChat, conversation_id=mine)
    await ana.call(p.WrapUp, conversation_id=mine, disposition="Resolved", note="wrap secret 2")  # wrap_up.recorded
    fresh = (await t.inbound("new sales secret", address="5511000000004", node=1))["conversation_id"]
    await t.inbound("new sales secret 2", address="5511000000004", node=1)  # inbox.updated
    support = (await t.inbound("support secret 2", address="psid-10", touchpoint="fb", node=0))["conversation_id"]
    await non_assignee.call(p.Open, conversation_id=fresh)  # looking at it while it is in the inbox
    await ana.call(p.Claim, conversation_id=fresh)
    await t.inbound("fresh secret after the claim", address="5511000000004", node=1)
    await ana.event(p.AssignedUpdated, lambda e: e.conversation.preview == "fresh secret after the claim")
    await sofia.event(p.InboxAdded, lambda e: e.conversation.id == support)
    await sofia.event(p.InboxRemoved, lambda e: e.conversation_id == fresh)
    await outsider.event(p.InboxAdded, lambda e: e.conversation.id == support)  # she does hear her own queue
    await non_assignee.event(p.InboxRemoved, lambda e: e.conversation_id == fresh)
    await sofia.call(p.SaveCanned, list_id="queue:sales", shortcut="s", text="canned secret")  # canned.updated (queue)
    await ana.call(p.SaveCanned, list_id="agent:ana", shortcut="m", text="personal secret")  # canned.updated (agent)
    await ana.event(p.CannedUpdated, lambda e: e.canned.list_id == "agent:ana")
    await last_word(t, ana, sofia, outsider, non_assignee)
    await revoked.wait_for(lambda: revoked.close_code is not None)  # closed: nothing more can reach it

    sales = {ids["inbox"], mine, ids["ended"], fresh}
    assert mentions(outsider, sales) == [], "an agent outside the queue heard of sales conversations"
    assert not [
        e for e in non_assignee.arrived
        if mine in p.encoder.encode(e).decode() and not isinstance(e.event, (p.InboxAdded, p.InboxRemoved))
    ], "a non-assignee heard more of Ana's conversation than its trips through the inbox"
    assert not [f for f in mentions(non_assignee, {fresh}) if "after the claim" in f], "a viewer kept a taken thread"
    assert mentions(ana, {ids["support"], support}) == [], "Ana heard of the support queue"
    canned = {
        (who, e.event.canned.list_id)
        for who, a in (("outsider", outsider), ("non_assignee", non_assignee), ("revoked", revoked))
        for e in a.arrived
        if isinstance(e.event, p.CannedUpdated)
    }
    assert canned == {("non_assignee", "queue:sales")}, f"canned lists reached agents who do not use them: {canned}"
    assert mentions(revoked, sales | {ids["support"], support}) == [], "a revoked socket still heard events"
    assert revoked.close_code == errors.CLOSE_TOKEN_REVOKED
    try:
        await t.agent("bruno", 1, tok=revoked_token)
    except CommandError as e:
        assert e.code == errors.TOKEN_REVOKED
    else:
        raise AssertionError("a revoked token opened a socket")
    kinds = {type(e.event).__struct_config__.tag for a in (ana, sofia, revoked) for e in a.events}
    for a in (ana, sofia, outsider, non_assignee):
        await a.close()
    return kinds  # type: ignore[return-value]


ROUTING_KINDS = {"agent.status", "offer.rung", "offer.withdrawn", "floor.updated"}
"""Only automatic queues and transfers make these: who hears them is checked
in tests/server/test_routing.py (the agent's own stream; the floor, supervisors only)."""
ALL_KINDS = {cls.__struct_config__.tag for cls in p.EVENTS} - ROUTING_KINDS  # type: ignore[attr-defined]
