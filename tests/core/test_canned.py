"""Canned response rules (server/core/canned.py). Pure."""

from __future__ import annotations

import pytest

from protocol import errors
from server.core import canned as rules
from server.core.canned import CannedList
from server.core.errors import DomainError
from tests.core.test_conversation import ANA, BRUNO, SOFIA

SALES = CannedList(id="queue:sales")
MINE = CannedList(id="agent:ana")


def save(lst: CannedList, who=SOFIA, shortcut: str = "ola", body: str = "Olá {{contact.name}}!", rid: str | None = None, new_id: str = "cr1") -> CannedList:  # type: ignore[no-untyped-def]
    return rules.save(lst, who, response_id=rid, new_id=new_id, shortcut=shortcut, body=body, now=5)


def refused(fn, *args, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as e:
        fn(*args, **kw)
    return e.value.code


def test_supervisors_keep_queue_lists_agents_their_own() -> None:
    assert save(SALES).version == 1
    assert refused(save, SALES, ANA) == errors.FORBIDDEN
    assert save(MINE, ANA).responses[0].updated_by == "ana"
    assert refused(save, MINE, BRUNO) == errors.FORBIDDEN
    assert refused(save, MINE, SOFIA) == errors.FORBIDDEN  # a supervisor does not edit an agent's own list
    assert rules.editors("queue:sales") == ["role:supervisor"] and rules.editors("agent:ana") == ["agent:ana"]


def test_an_agent_uses_its_own_list_and_its_queues_lists_only() -> None:
    assert rules.readable(ANA, ["sales"]) == ["agent:ana", "queue:sales"]
    rules.require_readable(ANA, "queue:sales", ["sales"])
    for other in ("queue:support", "agent:bruno", "nonsense"):
        assert refused(rules.require_readable, ANA, other, ["sales"]) == errors.NOT_FOUND


def test_shortcuts_are_clean_and_unique_in_a_list_whatever_the_case_and_accents() -> None:
    lst = save(SALES, shortcut=" /Olá ")
    assert lst.responses[0].shortcut == "Olá"
    assert refused(save, lst, shortcut="OLA", new_id="cr2") == errors.INVALID_ARGUMENT
    for bad in ("", "/", "two words", "a/b", "x" * 33):
        assert refused(save, SALES, shortcut=bad) == errors.INVALID_ARGUMENT, bad
    assert refused(save, SALES, body="  ") == errors.INVALID_ARGUMENT
    assert refused(save, SALES, body="x" * 4097) == errors.INVALID_ARGUMENT
    # The same shortcut in another list is another response.
    assert save(MINE, ANA, shortcut="ola").responses[0].shortcut == "ola"


def test_update_keeps_the_id_and_delete_removes_it_each_a_new_version() -> None:
    lst = save(save(SALES, shortcut="zeta"), shortcut="alfa", new_id="cr2")
    assert [r.shortcut for r in lst.responses] == ["alfa", "zeta"]  # ordered by shortcut
    edited = save(lst, shortcut="zeta", body="Novo texto", rid="cr1", new_id="unused")
    assert edited.version == 3 and [(r.id, r.text) for r in edited.responses if r.shortcut == "zeta"] == [("cr1", "Novo texto")]
    renamed = save(edited, shortcut="Alfa", rid="cr2", new_id="unused")  # its own shortcut, recased
    assert [r.shortcut for r in renamed.responses] == ["Alfa", "zeta"]
    assert refused(save, edited, rid="nope") == errors.NOT_FOUND
    gone = rules.delete(edited, SOFIA, "cr1")
    assert gone.version == 4 and [r.id for r in gone.responses] == ["cr2"]
    assert refused(rules.delete, gone, SOFIA, "cr1") == errors.NOT_FOUND
    assert refused(rules.delete, gone, ANA, "cr2") == errors.FORBIDDEN


def test_a_list_is_bounded() -> None:
    lst = SALES
    for i in range(rules.MAX_RESPONSES):
        lst = save(lst, shortcut=f"s{i}", new_id=f"cr{i}")
    assert refused(save, lst, shortcut="one-more", new_id="x") == errors.INVALID_ARGUMENT
    assert save(lst, shortcut="s0", body="edited", rid="cr0").version == lst.version + 1  # editing still works
