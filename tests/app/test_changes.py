"""The app layer without sockets: the use cases on the memory store and
broker, built as the node builds them."""

from __future__ import annotations

import pytest

from protocol import messages as p
from server.app import App
from server.broker import MemoryBroker
from server.core.errors import DomainError
from server.core.model import Inbound
from server.metrics import Metrics
from server.node import make_app
from server.store.memory import MemoryStore
from tests.conftest import make_config


def build() -> tuple[App, MemoryBroker, Metrics]:
    broker = MemoryBroker(history_size=100, history_bytes=1 << 20)
    metrics = Metrics()
    return make_app(make_config(), MemoryStore(), broker, metrics), broker, metrics


def published(metrics: Metrics) -> float:
    return sum(metrics.published.value(kind) for kind in ("agent", "queue", "conv"))


async def test_a_renamed_contact_is_republished_through_the_one_publish_path() -> None:
    """Renaming a contact republishes their open conversations through the
    same path as every change: counted in switchboard_published_total."""
    app, broker, metrics = build()
    outcome = await app.intake.receive("wa", "5511911112222", Inbound(kind="text", text="oi", at=app.clock()))
    assert outcome is not None
    before = published(metrics)
    heard: list[tuple[str, str]] = []
    broker.on_publication = lambda stream, seq, kind, data: heard.append((stream, kind))
    await app.contacts.put(app.catalog.agents["sofia"], "whatsapp", "+55 11 91111-2222", "Maria")
    assert ("queue:sales", "inbox.updated") in heard
    assert published(metrics) == before + len(heard)


async def test_an_agent_who_cannot_know_a_conversation_is_told_not_found() -> None:
    app, _, _ = build()
    outcome = await app.intake.receive("wa", "5511911112222", Inbound(kind="text", text="oi", at=app.clock()))
    assert outcome is not None
    carla = app.catalog.agents["carla"]  # support only; the conversation is in sales
    with pytest.raises(DomainError) as refused:
        await app.commands.claim(carla, outcome.after.id)
    assert refused.value.code == "not_found"
    assert isinstance(await app.commands.claim(app.catalog.agents["ana"], outcome.after.id), p.ConversationResult)
