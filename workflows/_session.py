"""Sessions: tenant-namespaced ids, ownership, and one turn at a time per session.

Agno's session id is a global primary key, and a run's `session_state` is merged over the stored one
(the run's keys win). So the tenant and agent come from the host's `session_state` on every run, the id
must carry them (`session_id(tenant, agent, conversation)`), and the first turn stores an owner key the
host never sends: a later run of another tenant or agent on that session is refused before any work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from focal.alignment.leases import SessionLeases
from focal.errors import ConfigError, FocalError
from focal.logging import get_logger
from focal.routing import check_tenant_id

__all__ = ["OWNER_KEY", "SessionBusyError", "SessionLocks", "SessionOwnershipError", "session_id"]

log = get_logger("focal.workflows")

OWNER_KEY = "focal_owner"
MAX_CONVERSATION_ID = 200
MAX_SESSION_ID = 256
"""The longest session id (the telemetry tables' `session_id` columns hold 256 characters)."""
_SEPARATOR = ":"


class SessionOwnershipError(FocalError):
    """The session belongs to another tenant or agent (or its id is not this tenant's)."""


class SessionBusyError(FocalError):
    """Another turn of this session is running and did not finish within the wait allowed."""


def session_id(tenant_id: str, agent_id: str, conversation_id: str) -> str:
    """The Agno session id of one conversation: `<tenant>:<agent>:<conversation>`.

    Raises:
        ConfigError: an empty part, a tenant or agent id containing `:`, a conversation id over
            `MAX_CONVERSATION_ID` characters, or a whole id over `MAX_SESSION_ID`.
    """
    check_tenant_id(tenant_id)
    for name, value in (("tenant_id", tenant_id), ("agent_id", agent_id)):
        if not value or _SEPARATOR in value:
            raise ConfigError(f"{name} {value!r} must be non-empty and free of {_SEPARATOR!r}")
    if not isinstance(conversation_id, str) or not 0 < len(conversation_id) <= MAX_CONVERSATION_ID:
        raise ConfigError(f"conversation_id must be a string of 1 to {MAX_CONVERSATION_ID} characters")
    session = f"{tenant_id}{_SEPARATOR}{agent_id}{_SEPARATOR}{conversation_id}"
    if len(session) > MAX_SESSION_ID:
        raise ConfigError(
            f"session id {session[:40]!r}… is over {MAX_SESSION_ID} characters (tenant:agent:conversation)"
        )
    return session


def tenant_of(state: Mapping[str, Any]) -> tuple[str, str]:
    """The tenant and agent the host put in `session_state`.

    Raises:
        SessionOwnershipError: either is missing.
    """
    tenant_id, agent_id = state.get("tenant_id"), state.get("agent_id")
    if not isinstance(tenant_id, str) or not tenant_id or not isinstance(agent_id, str) or not agent_id:
        raise SessionOwnershipError(
            "session_state must carry the host's tenant_id and agent_id "
            "(workflow.arun(..., session_state={'tenant_id': ..., 'agent_id': ...}))"
        )
    return tenant_id, agent_id


def check_ownership(state: Mapping[str, Any], session: str, tenant_id: str, agent_id: str) -> None:
    """Refuse a session id that is not this tenant's and agent's, or a session stored for another one.

    Raises:
        SessionOwnershipError: with what does not match.
    """
    prefix = f"{tenant_id}{_SEPARATOR}{agent_id}{_SEPARATOR}"
    if not session.startswith(prefix) or len(session) == len(prefix):
        raise SessionOwnershipError(
            f"session {session!r} is not a session of tenant {tenant_id!r} and agent {agent_id!r} "
            f"(make ids with focal.session_id(tenant, agent, conversation))"
        )
    owner = state.get(OWNER_KEY)
    if owner is not None and owner != f"{tenant_id}/{agent_id}":
        raise SessionOwnershipError(f"session {session!r} belongs to another tenant or agent")


class SessionLocks:
    """One turn at a time per session: in this process (an asyncio lock per session) and, with `leases`,
    across processes sharing the database. A second turn waits up to `wait_seconds` in all.

    Without `leases` only this process's turns are kept apart: run one process per database, or pass
    `SessionLeases` (`Focal.workflow` does).
    """

    def __init__(self, wait_seconds: float = 30.0, *, leases: SessionLeases | None = None) -> None:
        self.wait_seconds = wait_seconds
        self.leases = leases
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, session: str, tenant_id: str) -> AsyncIterator[None]:
        """Raises SessionBusyError when the session stays busy longer than `wait_seconds`."""
        deadline = asyncio.get_running_loop().time() + self.wait_seconds
        lock, users = self._locks.get(session, (asyncio.Lock(), 0))
        self._locks[session] = (lock, users + 1)
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self.wait_seconds)
            except TimeoutError:
                raise SessionBusyError(
                    f"session {session!r} is busy with another turn (waited {self.wait_seconds:g} s)"
                ) from None
            try:
                holder = await self._lease(session, tenant_id, deadline) if self.leases else None
                try:
                    yield
                finally:
                    if holder is not None:
                        await self._give_back(session, tenant_id, holder)
            finally:
                lock.release()
        finally:
            lock, users = self._locks[session]
            if users <= 1:
                del self._locks[session]
            else:
                self._locks[session] = (lock, users - 1)

    async def _lease(self, session: str, tenant_id: str, deadline: float) -> str:
        assert self.leases is not None
        loop, delay = asyncio.get_running_loop(), 0.01
        while (holder := await self._try_lease(session, tenant_id)) is None:
            if loop.time() + delay > deadline:
                raise SessionBusyError(
                    f"session {session!r} is busy with a turn in another process (waited {self.wait_seconds:g} s)"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        return holder

    async def _try_lease(self, session: str, tenant_id: str) -> str | None:
        """One attempt; a cancellation waits for the attempt and gives back a lease it took."""
        assert self.leases is not None
        attempt = asyncio.ensure_future(self.leases.try_acquire(tenant_id, session))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            await _settle(attempt)
            if not attempt.cancelled() and attempt.exception() is None and (holder := attempt.result()):
                await self._give_back(session, tenant_id, holder)
            raise

    async def _give_back(self, session: str, tenant_id: str, holder: str) -> None:
        """Release the lease whatever happens meanwhile: a cancellation waits for it, and a failure is
        logged (the lease then expires by itself) rather than replacing the turn's own outcome."""
        assert self.leases is not None
        release = asyncio.ensure_future(self.leases.release(tenant_id, session, holder))
        try:
            await asyncio.shield(release)
        except asyncio.CancelledError:
            await _settle(release)
            if not release.cancelled() and release.exception() is not None:  # retrieved; the lease expires
                log.warning("session_lease_release_failed", session_id=session, error=repr(release.exception()))
            raise
        except Exception as exc:  # the turn's outcome stands; the lease expires by itself
            log.warning("session_lease_release_failed", session_id=session, tenant_id=tenant_id, error=repr(exc))
            return
        if not release.result():
            log.warning("session_lease_lost", session_id=session, tenant_id=tenant_id)

    def __len__(self) -> int:
        return len(self._locks)


async def _settle(future: asyncio.Future[Any]) -> None:
    """Wait until `future` is done, whatever cancellations arrive meanwhile."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([future])
