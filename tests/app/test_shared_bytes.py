"""A snapshot frame splices in parts encoded once and shared (the Inbox
window and counts of a set of queues, the configuration's views): its bytes
are exactly those of the snapshot encoded whole, the shared bytes follow every
change to the queues, and the Inbox's other reads (a filter, a page) never see
them (issue 18)."""

from __future__ import annotations

import msgspec
import pytest

from protocol import messages as p
from server.app import App
from server.app import reads as reads_module
from server.broker import MemoryBroker
from server.core.model import Agent, Inbound
from server.metrics import Metrics
from server.node import make_app
from server.store.memory import MemoryStore
from tests.app.test_shared_window import CountingStore
from tests.conftest import make_config

decode = msgspec.json.Decoder(p.Snapshot).decode


def build(store: MemoryStore | None = None) -> App:
    app = make_app(make_config(), store or MemoryStore(), MemoryBroker(history_size=100, history_bytes=1 << 20), Metrics())
    app.reads.clock = lambda: 1_700_000_000_000  # both encodings carry the same server_time
    return app


async def write(app: App, address: str, text: str, touchpoint: str = "wa") -> str:
    outcome = await app.intake.receive(touchpoint, address, Inbound(kind="text", text=text, at=app.clock()))
    assert outcome is not None
    return outcome.after.id


async def frame(app: App, agent: Agent) -> p.Snapshot:
    return decode((await app.reads.snapshot_frame(agent)).data)


async def test_the_frame_is_the_snapshot_encoded_whole_for_every_kind_of_agent() -> None:
    app = build()
    agents = app.catalog.agents
    claimed = await write(app, "5511911110001", "oi")
    await write(app, "5511911110002", "bom dia")
    await write(app, "psid-1", "hello", touchpoint="fb")
    await app.commands.claim(agents["ana"], claimed)
    for agent_id in ("ana", "bruno", "carla", "sofia", "ana"):  # the last one from shared parts already made
        agent = agents[agent_id]
        whole = p.encoder.encode(await app.reads.snapshot(agent))
        spliced = (await app.reads.snapshot_frame(agent)).data
        assert spliced == whole, agent_id
    ana = decode(spliced)
    assert [c.id for c in ana.assigned] == [claimed] and len(ana.inbox) == 1
    assert {t.id for t in ana.touchpoints} == {t.id for t in app.catalog.touchpoint_views(agents["ana"])}


async def test_a_frame_splices_the_kept_bytes_without_decoding_them(monkeypatch: pytest.MonkeyPatch) -> None:
    app = build()
    await write(app, "5511911110001", "oi")
    bruno = app.catalog.agents["bruno"]
    whole = p.encoder.encode(await app.reads.snapshot(bruno))  # builds and keeps the window

    def refuse(data: bytes) -> None:
        raise AssertionError("a snapshot frame decoded the shared window")

    monkeypatch.setattr(reads_module, "_decode_rows", refuse)
    monkeypatch.setattr(reads_module, "_decode_counts", refuse)
    assert (await app.reads.snapshot_frame(bruno)).data == whole


async def test_an_empty_inbox_splices_the_same_bytes() -> None:
    app = build()
    agent = app.catalog.agents["carla"]
    assert (await app.reads.snapshot_frame(agent)).data == p.encoder.encode(await app.reads.snapshot(agent))


async def test_the_shared_encoded_window_follows_a_change_to_its_queues() -> None:
    store = CountingStore()
    app = build(store)
    agents = app.catalog.agents
    first = await write(app, "5511911110001", "oi")
    second = await write(app, "5511911110002", "bom dia")

    bruno = await frame(app, agents["bruno"])
    store.pages = 0
    sofia = await frame(app, agents["sofia"])  # the same queues: the same encoded window, not read again
    assert store.pages == 0
    assert sofia.inbox == bruno.inbox and sofia.inbox_counts == bruno.inbox_counts

    await write(app, "5511911110001", "ainda esperando")
    again = await frame(app, agents["sofia"])
    assert store.pages > 0
    assert {r.id: r.preview for r in again.inbox}[first] == "ainda esperando"

    await app.commands.claim(agents["ana"], second)
    after_claim = await frame(app, agents["bruno"])
    assert [r.id for r in after_claim.inbox] == [first]
    assert next(c.inbox for c in after_claim.inbox_counts if c.queue_id == "sales") == 1


async def test_a_filtered_or_paged_read_is_not_the_shared_window() -> None:
    app = build()
    agents = app.catalog.agents
    made = [await write(app, f"55119111100{n:02}", f"oi {n}") for n in range(5)]
    bruno = agents["bruno"]
    window = await frame(app, bruno)  # the window of sales + support is now shared
    order = [r.id for r in window.inbox]  # oldest first (ties: by id)
    assert sorted(order) == sorted(made)

    found = await app.reads.inbox_page(bruno, query="5511911110003")
    assert [r.id for r in found.conversations] == [made[3]]
    page = await app.reads.inbox_page(bruno, limit=2)
    assert [r.id for r in page.conversations] == order[:2] and page.cursor is not None
    rest = await app.reads.inbox_page(bruno, cursor=page.cursor, limit=10)
    assert [r.id for r in rest.conversations] == order[2:] and rest.cursor is None

    # The reads left the shared window whole: the next snapshot is not filtered nor paged.
    again = await frame(app, bruno)
    assert [r.id for r in again.inbox] == order and again.inbox_cursor is None
