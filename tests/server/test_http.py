"""The HTTP edge: health, metrics, schema, REST reads, search, paging, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import msgspec

from protocol import errors
from protocol import messages as p
from server import auth
from tests.conftest import SECRET, Running, token


def bearer(agent: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token(agent)}"}


async def test_health_ready_and_metrics(running: Running) -> None:
    assert (await running.http.get(f"{running.base}/healthz")).json()["status"] == "ok"
    assert (await running.http.get(f"{running.base}/readyz")).status_code == 200
    ana = await running.agent("ana")
    await running.inbound("hi")
    await ana.event(p.InboxAdded)
    await ana.call(p.Ping)
    text = (await running.http.get(f"{running.base}/metrics")).text
    assert "switchboard_connections 1" in text
    assert 'switchboard_commands_total{command="ping",outcome="ok"} 1' in text
    assert 'switchboard_events_published_total{stream_kind="queue"} 1' in text
    assert "switchboard_deliveries_total" in text and "switchboard_command_seconds_bucket" in text


async def test_garbage_collector_pauses_are_measured(running: Running) -> None:
    import gc

    def full_collections() -> int:
        text = running.node.metrics.render()
        for line in text.splitlines():
            if line.startswith('switchboard_gc_pause_seconds_count{generation="2"}'):
                return int(line.rsplit(" ", 1)[1])
        return 0

    before = full_collections()
    gc.collect()
    assert full_collections() == before + 1
    running.node.metrics.watch_gc(False)
    gc.collect()
    assert full_collections() == before + 1  # no longer watched
    running.node.metrics.watch_gc()


async def test_schema_is_served_and_describes_both_directions(running: Running) -> None:
    r = await running.http.get(f"{running.base}/protocol/schema.json")
    schema = r.json()
    assert schema["x-protocol-version"] == p.PROTOCOL_VERSION
    assert errors.SESSION_LOCKED in schema["x-error-codes"]
    titles = [s["title"] for s in schema["oneOf"]]
    assert titles == ["ClientCommand", "ServerMessage"]
    assert {"Claim", "Hello", "Snapshot", "Event", "SessionLocked"} <= set(schema["$defs"])


async def test_conversation_paging_and_accent_insensitive_search(running: Running) -> None:
    texts = [f"mensagem {i}" for i in range(7)] + ["Quero a PROMOÇÃO de verão", "e a promocao?"]
    for t in texts:
        made = await running.inbound(t)
    cid = made["conversation_id"]
    r = await running.http.get(f"{running.base}/api/conversations/{cid}?limit=4", headers=bearer("ana"))
    body = r.json()
    assert [m["text"] for m in body["messages"]] == texts[-4:] and body["has_more"] is True
    older = await running.http.get(
        f"{running.base}/api/conversations/{cid}?limit=4&before={body['messages'][0]['seq']}", headers=bearer("ana")
    )
    assert [m["text"] for m in older.json()["messages"]] == texts[1:5]
    r = await running.http.get(f"{running.base}/api/conversations/{cid}/search?q=promocao", headers=bearer("ana"))
    hits = r.json()["hits"]
    assert [h["seq"] for h in hits] == [8, 9]
    assert texts[7][hits[0]["spans"][0][0] : hits[0]["spans"][0][1]] == "PROMOÇÃO"
    bad = await running.http.get(f"{running.base}/api/conversations/{cid}?limit=x", headers=bearer("ana"))
    assert bad.status_code == 400 and bad.json()["code"] == errors.INVALID_ARGUMENT
    for query in ("before=100000000000000000000000", "before=9223372036854775808", "before=-1", "limit=10000000000000000000000"):
        bad = await running.http.get(f"{running.base}/api/conversations/{cid}?{query}", headers=bearer("ana"))
        assert bad.status_code == 400 and bad.json()["code"] == errors.INVALID_ARGUMENT, (query, bad.text)
    edge = await running.http.get(f"{running.base}/api/conversations/{cid}?before=9223372036854775807", headers=bearer("ana"))
    assert edge.status_code == 200 and len(edge.json()["messages"]) == 9


async def test_a_non_ascii_token_signature_is_401_not_500(running: Running) -> None:
    payload = token("ana").partition(".")[0]
    r = await running.http.get(f"{running.base}/api/contacts", headers={"authorization": f"Bearer {payload}.sïg".encode("latin-1")})
    assert r.status_code == 401 and r.json()["code"] == errors.AUTH_FAILED


async def test_search_over_the_websocket_too(running: Running) -> None:
    made = await running.inbound("Não consigo acessar minha conta")
    ana = await running.agent("ana")
    result = await ana.call(p.Search, conversation_id=made["conversation_id"], query="NAO CONSIGO")
    assert len(result.hits) == 1 and result.hits[0].spans == [(0, 11)]


async def test_contacts_directory(running: Running) -> None:
    await running.inbound("hi", address="5511955554444")
    r = await running.http.put(
        f"{running.base}/api/contacts/whatsapp/5511955554444", json={"name": "Zé Carioca"}, headers=bearer("sofia")
    )
    assert r.status_code == 200 and r.json()["initials"] == "ZC"
    listed = (await running.http.get(f"{running.base}/api/contacts", headers=bearer("sofia"))).json()
    assert [c["display_name"] for c in listed] == ["Zé Carioca"]
    r = await running.http.delete(f"{running.base}/api/contacts/whatsapp/5511955554444", headers=bearer("sofia"))
    assert r.json()["display_name"] == "+55 11 95555-4444" and r.json()["known"] is False
    r = await running.http.put(f"{running.base}/api/contacts/whatsapp/1", content=b"{", headers=bearer("sofia"))
    assert r.status_code == 400
    deep = b'{"name":"x","extra":' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = await running.http.put(f"{running.base}/api/contacts/whatsapp/1", content=deep, headers=bearer("sofia"))
    assert r.status_code == 400 and r.json()["code"] == errors.INVALID_ARGUMENT and "64 levels" in r.json()["message"]


async def test_dev_inbound_is_idempotent_by_channel_message_id(running: Running) -> None:
    first = await running.inbound("once", id="wamid.ABC")
    again = await running.inbound("once", id="wamid.ABC")
    assert first["duplicate"] is False and again["duplicate"] is True
    r = await running.http.get(f"{running.base}/api/conversations/{first['conversation_id']}", headers=bearer("ana"))
    assert [m["text"] for m in r.json()["messages"]] == ["once"]


def test_cli_token_and_schema(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[server]\ntoken_secret = "{SECRET}"\n[[queues]]\nid = "q"\nname = "Q"\n'
        '[[agents]]\nid = "ana"\nname = "Ana"\nqueues = ["q"]\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "token", "ana", "--config", str(cfg)], capture_output=True, text=True, check=True
    )
    assert auth.verify(SECRET, out.stdout.strip(), now=int(time.time())).sub == "ana"
    bad = subprocess.run([sys.executable, "-m", "server.cli", "token", "zed", "--config", str(cfg)], capture_output=True, text=True)
    assert bad.returncode != 0 and "no agent" in bad.stderr
    target = tmp_path / "schema.json"
    subprocess.run([sys.executable, "-m", "server.cli", "schema", "--out", str(target)], check=True)
    assert json.loads(target.read_text())["title"] == "Switchboard agent protocol"


def test_every_command_and_frame_round_trips_through_the_codecs() -> None:
    hello = p.Hello(id="1", token="t", resume=p.Resume(epoch="e", streams={"agent:a": 3}))
    assert p.command_decoder.decode(p.encoder.encode(hello)) == hello
    try:
        p.command_decoder.decode(b'{"type":"claim","id":"1"}')
    except msgspec.ValidationError as e:
        assert "conversation_id" in str(e)
    else:
        raise AssertionError("missing field accepted")
