"""Canned responses through a whole node (over the in-memory link): the lists
in the snapshot, saves and deletes, and every open screen hearing the change."""

from __future__ import annotations

import pytest

from protocol import errors
from protocol import messages as p
from tests.memlink import Linked
from tests.wsagent import CommandError


async def test_the_snapshot_holds_the_lists_an_agent_uses(linked: Linked) -> None:
    ana = await linked.agent("ana")
    sofia = await linked.agent("sofia")
    assert ana.snapshot is not None and sofia.snapshot is not None
    assert [(c.list_id, c.version, c.editors) for c in ana.snapshot.canned] == [
        ("agent:ana", 0, ["agent:ana"]),
        ("queue:sales", 0, ["role:supervisor"]),
    ]
    assert [c.list_id for c in sofia.snapshot.canned] == ["agent:sofia", "queue:sales", "queue:support"]


async def test_a_supervisors_edit_reaches_every_screen_of_the_queue_live(linked: Linked) -> None:
    ana, ana2, bruno, carla = [await linked.agent(a) for a in ("ana", "ana", "bruno", "carla")]
    sofia = await linked.agent("sofia")
    saved = await sofia.call(p.SaveCanned, list_id="queue:sales", shortcut="/Olá", text="Olá {{contact.name}}!")
    response = saved.canned.responses[0]
    assert (response.shortcut, response.updated_by, saved.canned.version) == ("Olá", "sofia", 1)
    for screen in (ana, ana2, bruno):
        heard = await screen.event(p.CannedUpdated)
        assert heard.canned == saved.canned
    edited = await sofia.call(
        p.SaveCanned, list_id="queue:sales", response_id=response.id, shortcut="ola", text="Bom dia, {{contact.name}}!"
    )
    assert edited.canned.version == 2
    assert (await ana.event(p.CannedUpdated, lambda e: e.canned.version == 2)).canned.responses[0].text == "Bom dia, {{contact.name}}!"
    assert await carla.received_by_now(p.CannedUpdated) == []  # another queue's agent hears nothing

    # A screen that was away gets the change by resuming, like any event.
    point = bruno.resume_point()
    await bruno.close()
    await sofia.call(p.DeleteCanned, list_id="queue:sales", response_id=response.id)
    back = await linked.agent("bruno", resume=point)
    assert [e.canned.responses for e in back.received(p.CannedUpdated)] == [[]]


async def test_an_agents_own_list_is_theirs_alone(linked: Linked) -> None:
    ana, ana2, bruno = [await linked.agent(a) for a in ("ana", "ana", "bruno")]
    mine = await ana.call(p.SaveCanned, list_id="agent:ana", shortcut="tchau", text="Até logo, {{contact.name}}.")
    assert (await ana2.event(p.CannedUpdated)).canned == mine.canned
    assert await bruno.received_by_now(p.CannedUpdated) == []
    cases = [
        ({"list_id": "queue:sales", "shortcut": "x", "text": "x"}, errors.FORBIDDEN),
        ({"list_id": "agent:bruno", "shortcut": "x", "text": "x"}, errors.NOT_FOUND),
        ({"list_id": "queue:support", "shortcut": "x", "text": "x"}, errors.NOT_FOUND),
        ({"list_id": "agent:ana", "shortcut": "TCHAU", "text": "x"}, errors.INVALID_ARGUMENT),
        ({"list_id": "agent:ana", "shortcut": "x", "text": "x", "response_id": "nope"}, errors.NOT_FOUND),
    ]
    for fields, code in cases:
        with pytest.raises(CommandError) as e:
            await ana.call(p.SaveCanned, **fields)
        assert e.value.code == code, fields
    with pytest.raises(CommandError) as e:
        await bruno.call(p.DeleteCanned, list_id="agent:ana", response_id=mine.canned.responses[0].id)
    assert e.value.code == errors.NOT_FOUND
