"""Agents' tokens: who a token speaks for, logging one token or one agent
out everywhere, and (dev only) issuing one. On the app's clock."""

from __future__ import annotations

from collections.abc import Callable

from protocol import errors
from protocol import messages as p
from server import auth
from server.app.catalog import Catalog
from server.broker import Broker
from server.core import access, fanout
from server.core.errors import DomainError
from server.core.model import Agent
from server.store.base import Store


def refusal(e: auth.TokenError) -> DomainError:
    """The one answer to a token that does not pass, for every edge."""
    if isinstance(e, auth.TokenExpired):
        return DomainError(errors.TOKEN_EXPIRED, "Your session expired; log in again.")
    if isinstance(e, auth.TokenRevoked):
        return DomainError(errors.TOKEN_REVOKED, "This token was revoked; log in again.")
    return DomainError(errors.AUTH_FAILED, "Invalid token.")


class Tokens:
    def __init__(
        self, secret: str, ttl_seconds: int, catalog: Catalog, store: Store, broker: Broker, clock: Callable[[], int]
    ) -> None:
        self._secret = secret
        self._verified = auth.VerifiedTokens(secret)
        self._ttl = ttl_seconds
        self.catalog = catalog
        self.store = store
        self.broker = broker
        self.clock = clock

    async def authenticate(self, token: str) -> tuple[Agent, auth.Claims]:
        """The agent a token speaks for. Raises TokenInvalid (forged,
        malformed, unknown agent), TokenExpired or TokenRevoked."""
        claims = self._verified.verify(token, now=self.clock() // 1000)
        agent = self.catalog.agents.get(claims.sub)
        if agent is None:
            raise auth.TokenInvalid(f"unknown agent {claims.sub!r}")
        if claims.revoked_by(await self.store.revocations(claims.revocation_keys())):
            raise auth.TokenRevoked(claims.jti)
        return agent, claims

    def issue(self, agent_id: str) -> str:
        """Dev only (no password): a token for a configured agent."""
        if agent_id not in self.catalog.agents:
            raise DomainError(errors.NOT_FOUND, "No such agent.")
        return auth.issue(self._secret, agent_id, now=self.clock() // 1000, ttl_seconds=self._ttl)

    async def revoke_token(self, claims: auth.Claims) -> None:
        """Log one token out, on every node: sockets opened with it close."""
        await self.store.revoke(f"token:{claims.jti}", claims.exp)
        await self.broker.publish(fanout.agent_stream(claims.sub), p.AccessRevoked(token_id=claims.jti))

    async def revoke_agent(self, actor: Agent, agent_id: str) -> int:
        """Void every token of the agent issued up to this second (the agent
        themselves, or a supervisor). Returns that second."""
        access.require_may_log_out(actor, agent_id)
        if agent_id not in self.catalog.agents:
            raise DomainError(errors.NOT_FOUND, f"No agent {agent_id!r}.")
        until = self.clock() // 1000
        await self.store.revoke(f"agent:{agent_id}", until)
        await self.broker.publish(fanout.agent_stream(agent_id), p.AccessRevoked(not_before=until))
        return until
