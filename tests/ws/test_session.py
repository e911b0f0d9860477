"""The websocket session fed frames: no sockets, no node, no event loop."""

from __future__ import annotations

import msgspec
import pytest

from protocol import errors
from protocol import messages as p
from server.auth import Claims, TokenExpired, TokenInvalid, TokenRevoked
from server.core.model import Agent
from server.ws.session import (
    Authenticate,
    Fresh,
    Limits,
    Refuse,
    Replay,
    Reply,
    Run,
    Session,
    TryResume,
    fresh_frames,
)

ANA = Agent(id="ana", name="Ana Souza", queues=("sales",))
CLAIMS = Claims(sub="ana", exp=2_000_000_000, iat=1_000, jti="t1")
OWN = ["agent:ana", "queue:sales"]


def frame(cmd: p.Command) -> bytes:
    return p.encoder.encode(cmd)


def session(*, max_screens: int = 5, rate: float = 10.0, burst: int = 3) -> Session:
    return Session(Limits(heartbeat_ms=5000, max_screens=max_screens, commands_per_second=rate, command_burst=burst))


def hello(resume: p.Resume | None = None, protocol: int = p.PROTOCOL_VERSION) -> bytes:
    return frame(p.Hello(id="h", token="tok", protocol=protocol, resume=resume))


def live(resume: p.Resume | None = None) -> tuple[Session, p.Hello]:
    s = session()
    step = s.receive_hello(hello(resume))
    assert isinstance(step, Authenticate)
    welcome = s.authenticated(step.hello, ANA, CLAIMS, screens=0, node_id="n1", epoch="e1", server_time=42)
    assert isinstance(welcome, p.Welcome)
    return s, step.hello


# ---------------------------------------------------------------------- hello


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", errors.BAD_FRAME),
        (frame(p.Ping(id="1")), errors.NOT_AUTHENTICATED),
        (hello(protocol=p.PROTOCOL_VERSION + 1), errors.UNSUPPORTED_PROTOCOL),
    ],
)
def test_anything_but_a_hello_of_our_protocol_is_refused_and_closes(raw: bytes, code: str) -> None:
    s = session()
    step = s.receive_hello(raw)
    assert isinstance(step, Refuse) and step.error.code == code
    expected = errors.CLOSE_UNSUPPORTED_PROTOCOL if code == errors.UNSUPPORTED_PROTOCOL else errors.CLOSE_AUTH_FAILED
    assert step.close_code == expected
    assert s.state == "closed"


@pytest.mark.parametrize(
    ("error", "code", "close"),
    [
        (TokenExpired("x"), errors.TOKEN_EXPIRED, errors.CLOSE_TOKEN_EXPIRED),
        (TokenRevoked("x"), errors.TOKEN_REVOKED, errors.CLOSE_TOKEN_REVOKED),
        (TokenInvalid("x"), errors.AUTH_FAILED, errors.CLOSE_AUTH_FAILED),
        (None, errors.UNAVAILABLE, errors.CLOSE_GOING_AWAY),
    ],
)
def test_a_token_that_does_not_pass_closes_with_the_code_of_its_reason(error: object, code: str, close: int) -> None:
    s = session()
    step = s.receive_hello(hello())
    assert isinstance(step, Authenticate)
    refused = s.auth_failed(step.hello, error)  # type: ignore[arg-type]
    assert (refused.error.id, refused.error.code, refused.close_code) == ("h", code, close)


def test_one_screen_too_many_is_refused() -> None:
    s = session(max_screens=2)
    step = s.receive_hello(hello())
    assert isinstance(step, Authenticate)
    refused = s.authenticated(step.hello, ANA, CLAIMS, screens=2, node_id="n1", epoch="e1", server_time=0)
    assert isinstance(refused, Refuse)
    assert (refused.error.code, refused.close_code) == (errors.TOO_MANY_CONNECTIONS, errors.CLOSE_TOO_MANY_CONNECTIONS)
    assert s.agent is None


def test_welcome_names_the_agent_the_epoch_and_the_heartbeat() -> None:
    s = session()
    step = s.receive_hello(hello())
    assert isinstance(step, Authenticate)
    welcome = s.authenticated(step.hello, ANA, CLAIMS, screens=1, node_id="n1", epoch="e1", server_time=42)
    assert isinstance(welcome, p.Welcome)
    assert (welcome.id, welcome.agent.id, welcome.epoch, welcome.heartbeat_ms, welcome.node) == ("h", "ana", "e1", 5000, "n1")
    assert s.agent == ANA and s.state == "syncing"


# ---------------------------------------------------------------------- resume or snapshot


def test_no_resume_is_a_fresh_snapshot() -> None:
    s, _ = live()
    assert s.plan_sync(OWN, "e1") == Fresh(OWN)


@pytest.mark.parametrize(
    "resume",
    [
        p.Resume(epoch="e0", streams={"agent:ana": 3, "queue:sales": 4}),  # another epoch: sequences mean nothing
        p.Resume(epoch="e1", streams={"agent:ana": 3}),  # one of the agent's own streams missing
    ],
)
def test_a_resume_that_cannot_be_honoured_is_a_resync(resume: p.Resume) -> None:
    s, _ = live(resume)
    assert s.plan_sync(OWN, "e1") == Fresh(OWN, resync=True)


def plan(s: Session) -> TryResume:
    step = s.plan_sync(OWN, "e1")
    assert isinstance(step, TryResume)
    return step


def test_a_resume_replays_what_was_missed_in_order_and_reports_lost_threads() -> None:
    resume = p.Resume(epoch="e1", streams={"agent:ana": 3, "queue:sales": 4, "conv:c1": 7, "conv:c2": 1})
    s, _ = live(resume)
    step = plan(s)
    assert step.streams == {"agent:ana": 3, "queue:sales": 4}
    assert step.conversations == {"conv:c1": 7, "conv:c2": 1}
    histories: dict[str, list[tuple[int, bytes]] | None] = {
        "agent:ana": [(4, b"a4"), (5, b"a5")],
        "queue:sales": [],
        "conv:c1": [(8, b"c8")],
    }
    replay = s.resumed(step, {"conv:c1"}, histories, "e1")
    assert isinstance(replay, Replay)
    assert replay.frames == [b"a4", b"a5", b"c8"]
    assert replay.lost == ["conv:c2"]  # taken by someone else while away
    assert replay.resumed.streams == {"agent:ana": 3, "queue:sales": 4, "conv:c1": 7}
    assert replay.positions == {"agent:ana": 5, "queue:sales": 4, "conv:c1": 8}


def test_history_gone_on_any_stream_is_a_resync() -> None:
    s, _ = live(p.Resume(epoch="e1", streams={"agent:ana": 3, "queue:sales": 4}))
    step = plan(s)
    assert s.resumed(step, set(), {"agent:ana": [(4, b"a4")], "queue:sales": None}, "e1") == Fresh(OWN, resync=True)


def test_live_frames_that_arrived_while_catching_up_are_sent_once_in_order() -> None:
    positions = {"agent:ana": 5, "conv:c1": 8}
    batch = [("agent:ana", 5, b"dup"), ("conv:c1", 9, b"c9"), ("agent:ana", 6, b"a6"), ("conv:c1", 9, b"again")]
    assert fresh_frames(batch, positions) == [b"c9", b"a6"]
    assert positions == {"agent:ana": 6, "conv:c1": 9}


# ---------------------------------------------------------------------- commands


def test_a_command_runs_and_a_bad_frame_is_answered_without_running() -> None:
    s, _ = live()
    step = s.receive_command(frame(p.Claim(id="1", conversation_id="c1")), now=0.0)
    assert isinstance(step, Run) and step.name == "claim"
    bad = s.receive_command(b'{"type":"claim","id":"2"}', now=0.0)
    assert isinstance(bad, Reply) and (bad.frame.id, bad.frame.code) == ("2", errors.BAD_FRAME)


def test_a_second_hello_is_refused() -> None:
    s, _ = live()
    step = s.receive_command(hello(), now=0.0)
    assert isinstance(step, Reply) and step.frame.code == errors.ALREADY_AUTHENTICATED


def test_commands_over_the_rate_are_refused_until_the_bucket_refills() -> None:
    s, _ = live()  # burst 3, 10 per second
    ping = frame(p.Ping(id="p"))
    steps = [s.receive_command(ping, now=0.0) for _ in range(4)]
    assert [type(x) for x in steps] == [Run, Run, Run, Reply]
    last = steps[-1]
    assert isinstance(last, Reply) and last.frame.code == errors.RATE_LIMITED
    assert isinstance(s.receive_command(ping, now=0.1), Run)


@pytest.mark.parametrize(
    ("event", "revoked"),
    [
        (p.AccessRevoked(token_id="t1"), True),
        (p.AccessRevoked(token_id="t2"), False),
        (p.AccessRevoked(not_before=1_000), True),
        (p.AccessRevoked(not_before=999), False),
    ],
)
def test_a_revocation_applies_to_its_token_or_to_tokens_issued_up_to_its_second(event: p.AccessRevoked, revoked: bool) -> None:
    s, _ = live()
    assert s.revoked_by(event) is revoked


def test_frames_it_decides_to_send_are_protocol_frames() -> None:
    s = session()
    step = s.receive_hello(b"[]")
    assert isinstance(step, Refuse)
    assert msgspec.json.decode(p.encoder.encode(step.error))["type"] == "error"
