"""One agent connection's decisions, without I/O (sans-I/O, as the
``websockets`` protocol or h11's ``Connection``): frames and lookup results
go in, the frames to send and what to do next come out. The socket loop
(``connection.py``) does the awaiting; this module never awaits, reads no
clock of its own (``now`` comes in) and never touches a socket.

    hello ──▶ receive_hello ─▶ Authenticate (the shell checks the token)
                           └▶ Refuse (error frame + close code)
          ──▶ authenticated / auth_failed ─▶ Welcome | Refuse
          ──▶ plan_sync ─▶ Fresh (snapshot; after ``resync`` when a resume failed)
                        └▶ TryResume (the shell fetches what was missed)
          ──▶ resumed ─▶ Replay (frames in order) | Fresh(resync=True)
    live  ──▶ receive_command ─▶ Run (the shell runs it) | Reply (refused here)

The rules, all here: hello first, within the protocol version; a refused
token closes with the code of its reason; at most ``max_screens`` sockets per
agent on a node; a resume is accepted only in the same epoch, for at least
the agent's own streams, and only if every stream's missed events are still
in history (else ``resync`` and a fresh snapshot); live frames that arrived
while catching up are sent once, in order, skipping what the snapshot or
replay covered; commands beyond the rate limit are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from protocol import errors
from protocol import messages as p
from protocol.depth import MAX_DEPTH, too_deep
from server.app.tokens import refusal
from server.auth import Claims, TokenError
from server.core.model import Agent
from server.core.permissions import principals
from server.core.views import agent_view

_decode_command = p.command_decoder.decode
COMMAND_NAMES = {cls.__struct_config__.tag for cls in p.COMMANDS}
# What decoding hostile bytes can raise: msgspec's errors, invalid UTF-8, deep nesting.
_UNREADABLE = (msgspec.MsgspecError, ValueError)
# msgspec's words for a constraint (msgspec.Meta ge/le/...) a well-typed value breaks.
_OUT_OF_RANGE = re.compile(r"Expected `\w+` (>=|<=|>|<) ")

CLOSE_FOR = {
    errors.TOKEN_EXPIRED: errors.CLOSE_TOKEN_EXPIRED,
    errors.TOKEN_REVOKED: errors.CLOSE_TOKEN_REVOKED,
    errors.AUTH_FAILED: errors.CLOSE_AUTH_FAILED,
}
"""A refused token's close code, by the refusal's error code."""


def decode_command(raw: str | bytes) -> p.Command | p.Error:
    """A command, or the error that names what is wrong with the frame.
    Whatever the peer sends, this returns: input never raises."""
    if too_deep(raw):
        return p.Error(id=None, code=errors.BAD_FRAME, message=f"Frame nests more than {MAX_DEPTH} levels deep.")
    try:
        return _decode_command(raw)
    except _UNREADABLE as e:
        return _frame_error(raw, e)


def _frame_error(raw: str | bytes, e: Exception) -> p.Error:
    """Name what was wrong and echo the id when one can be read."""
    try:
        obj: Any = msgspec.json.decode(raw)
    except _UNREADABLE:
        return p.Error(id=None, code=errors.BAD_FRAME, message="Frame is not valid JSON in UTF-8.")
    if not isinstance(obj, dict):
        return p.Error(id=None, code=errors.BAD_FRAME, message="Frame must be a JSON object.")
    request_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    kind = obj.get("type")
    if isinstance(kind, str) and kind not in COMMAND_NAMES:
        return p.Error(id=request_id, code=errors.UNKNOWN_COMMAND, message=f"Unknown command {kind!r}.")
    if _OUT_OF_RANGE.match(str(e)):  # the right type, a value outside its range (protocol Meta constraints)
        return p.Error(id=request_id, code=errors.INVALID_ARGUMENT, message=str(e))
    return p.Error(id=request_id, code=errors.BAD_FRAME, message=str(e))


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: int, now: float = 0.0) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


# ---------------------------------------------------------------------- what comes out


@dataclass(frozen=True, slots=True)
class Refuse:
    """Send ``error``, then close with ``close_code``: the connection is over."""

    error: p.Error
    close_code: int
    close_reason: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check the hello's token (I/O), then call ``authenticated`` or ``auth_failed``."""

    hello: p.Hello


@dataclass(frozen=True, slots=True)
class Fresh:
    """Send ``resync`` first when ``resync``; attach ``streams``, then send a snapshot."""

    streams: list[str]
    resync: bool = False


@dataclass(frozen=True, slots=True)
class TryResume:
    """Attach ``streams``; check the agent may still see each of
    ``conversations`` (stream → last seq), fetch every stream's history after
    its position, then call ``resumed``."""

    streams: dict[str, int]
    conversations: dict[str, int]


@dataclass(frozen=True, slots=True)
class Replay:
    """Send ``resumed``, an ``unsubscribed`` per lost stream, then ``frames``
    in order; then catch up from ``positions``."""

    resumed: p.Resumed
    lost: list[str]
    frames: list[bytes]
    positions: dict[str, int]


@dataclass(frozen=True, slots=True)
class Run:
    """Run the command (I/O), then send ``answer(...)``."""

    command: p.Command
    name: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Send ``frame``; nothing to run. ``outcome``: the metric label;
    ``timed``: counted in the command-time histogram like a command run."""

    frame: p.Error
    name: str
    outcome: str
    timed: bool = False


# ---------------------------------------------------------------------- the session


@dataclass(slots=True)
class Limits:
    heartbeat_ms: int
    max_screens: int
    commands_per_second: float
    command_burst: int


State = Literal["hello", "authenticating", "syncing", "live", "closed"]


@dataclass(slots=True)
class Session:
    limits: Limits
    now: float = 0.0
    """When the connection opened (seconds, any monotonic clock): the rate limit starts full."""
    state: State = "hello"
    agent: Agent | None = None
    claims: Claims | None = None
    _resume: p.Resume | None = None
    _bucket: TokenBucket = field(init=False)

    def __post_init__(self) -> None:
        self._bucket = TokenBucket(self.limits.commands_per_second, self.limits.command_burst, self.now)

    def _refuse(self, request_id: str | None, code: str, message: str, close_code: int, reason: str) -> Refuse:
        self.state = "closed"
        return Refuse(p.Error(id=request_id, code=code, message=message), close_code, reason)

    # handshake ------------------------------------------------------------------

    def receive_hello(self, raw: str | bytes) -> Authenticate | Refuse:
        assert self.state == "hello", self.state
        cmd = decode_command(raw)
        if isinstance(cmd, p.Error):
            self.state = "closed"
            return Refuse(cmd, errors.CLOSE_AUTH_FAILED, "expected hello")
        if not isinstance(cmd, p.Hello):
            return self._refuse(cmd.id, errors.NOT_AUTHENTICATED, "Send hello first.", errors.CLOSE_AUTH_FAILED, "expected hello")
        if cmd.protocol != p.PROTOCOL_VERSION:
            message = f"This server speaks protocol {p.PROTOCOL_VERSION}, not {cmd.protocol}."
            return self._refuse(
                cmd.id, errors.UNSUPPORTED_PROTOCOL, message, errors.CLOSE_UNSUPPORTED_PROTOCOL, "unsupported protocol"
            )
        self.state = "authenticating"
        self._resume = cmd.resume
        return Authenticate(cmd)

    def hello_timed_out(self) -> tuple[int, str]:
        """No hello in time: the close code and reason."""
        self.state = "closed"
        return errors.CLOSE_HELLO_TIMEOUT, "no hello"

    def auth_failed(self, hello: p.Hello, error: TokenError | None) -> Refuse:
        """The token did not pass (``error``), or could not be checked (None: the store is unavailable)."""
        if error is None:
            message = "Cannot check the token now; retry."
            return self._refuse(hello.id, errors.UNAVAILABLE, message, errors.CLOSE_GOING_AWAY, errors.UNAVAILABLE)
        refused = refusal(error)
        return self._refuse(hello.id, refused.code, refused.message, CLOSE_FOR[refused.code], refused.code)

    def sync_failed(self) -> Refuse:
        """The snapshot or the replay could not be read (the store is down):
        ``unavailable``, closed 1001 so the client reconnects and resumes."""
        message = "Your state cannot be read now; reconnect."
        return self._refuse(None, errors.UNAVAILABLE, message, errors.CLOSE_GOING_AWAY, errors.UNAVAILABLE)

    def authenticated(
        self, hello: p.Hello, agent: Agent, claims: Claims, *, screens: int, node_id: str, epoch: str, server_time: int
    ) -> p.Welcome | Refuse:
        """``screens``: the agent's sockets already open on this node."""
        assert self.state == "authenticating", self.state
        if screens >= self.limits.max_screens:
            message = f"Already {screens} screens open."
            return self._refuse(
                hello.id, errors.TOO_MANY_CONNECTIONS, message, errors.CLOSE_TOO_MANY_CONNECTIONS, errors.TOO_MANY_CONNECTIONS
            )
        self.agent, self.claims = agent, claims
        self.state = "syncing"
        return p.Welcome(
            id=hello.id,
            protocol=p.PROTOCOL_VERSION,
            agent=agent_view(agent),
            node=node_id,
            epoch=epoch,
            server_time=server_time,
            heartbeat_ms=self.limits.heartbeat_ms,
            principals=principals(agent),
        )

    # catching up ----------------------------------------------------------------

    def plan_sync(self, streams: list[str], epoch: str) -> Fresh | TryResume:
        """``streams``: the agent's own (its stream and its queues'); ``epoch``: the broker's."""
        assert self.state == "syncing", self.state
        resume, self._resume = self._resume, None
        if resume is None:
            return Fresh(streams)
        wanted = set(streams)
        if resume.epoch != epoch or not wanted <= set(resume.streams):
            return Fresh(streams, resync=True)
        conversations = {
            s: seq for s, seq in resume.streams.items() if s.startswith("conv:") and s not in wanted
        }
        return TryResume({s: resume.streams[s] for s in streams}, conversations)

    def resumed(
        self,
        plan: TryResume,
        visible: set[str],
        histories: dict[str, list[tuple[int, bytes]] | None],
        epoch: str,
    ) -> Replay | Fresh:
        """``visible``: the conversation streams of the plan the agent may
        still see; ``histories``: each attached stream's events after its
        position (None: no longer in history)."""
        positions = {**plan.streams, **{s: seq for s, seq in plan.conversations.items() if s in visible}}
        frames: list[bytes] = []
        for stream in positions:
            missed = histories.get(stream)
            if missed is None:
                return Fresh(list(plan.streams), resync=True)
            frames.extend(data for _, data in missed)
        asked = dict(positions)
        for stream in positions:
            missed = histories[stream]
            if missed:
                positions[stream] = missed[-1][0]
        lost = [s for s in plan.conversations if s not in visible]
        return Replay(p.Resumed(epoch=epoch, streams=asked), lost, frames, positions)

    def went_live(self) -> None:
        self.state = "live"

    # commands -------------------------------------------------------------------

    def receive_command(self, raw: str | bytes, now: float) -> Run | Reply:
        cmd = decode_command(raw)
        if isinstance(cmd, p.Error):
            return Reply(cmd, "invalid", cmd.code)
        name = str(type(cmd).__struct_config__.tag)
        if not self._bucket.take(now):
            return Reply(p.Error(id=cmd.id, code=errors.RATE_LIMITED, message="Too many commands; slow down."), name, errors.RATE_LIMITED)
        if isinstance(cmd, p.Hello):
            error = p.Error(id=cmd.id, code=errors.ALREADY_AUTHENTICATED, message="This connection is already authenticated.")
            return Reply(error, name, errors.ALREADY_AUTHENTICATED, timed=True)
        return Run(cmd, name)

    def revoked_by(self, event: p.AccessRevoked) -> bool:
        """Whether the event revokes the token this connection was opened with."""
        claims = self.claims
        if claims is None:
            return False
        if event.token_id is not None:
            return event.token_id == claims.jti
        return event.not_before is not None and claims.iat <= event.not_before


def fresh_frames(batch: list[tuple[str, int, bytes]], positions: dict[str, int]) -> list[bytes]:
    """Of the live frames that arrived while catching up, those the snapshot
    or replay did not cover, in order (``positions`` moves on with them)."""
    out: list[bytes] = []
    for stream, seq, data in batch:
        if seq > positions.get(stream, 0):
            positions[stream] = seq
            out.append(data)
    return out
