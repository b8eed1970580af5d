"""One turn at a time per session: in one process turns of a session queue up (or are refused after the
wait); across processes (two workflows over one database, with session leases) a second turn waits for
the lease or is refused, and never interleaves."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from focal.workflows import SessionBusyError, SessionLocks, build_alignment_workflow, session_id
from sqlalchemy import text

from focal.alignment.audit import TurnExistsError
from focal.alignment.leases import SessionLeases
from focal.execution import ProviderUnavailable
from focal.storage import create_agno_db
from tests.e2e.scripts import COMPLIES, decisions, reply, snapshot, turn


class _Gate:
    """Holds the calls of one step until released."""

    def __init__(self, executor: Any, step: str) -> None:
        self.entered, self.release = asyncio.Event(), asyncio.Event()
        self.step, self._run_agent = step, executor.run_agent
        executor.run_agent = self.run_agent

    async def run_agent(self, agent: Any, input: Any, ctx: Any, **kw: Any) -> Any:
        if ctx.step_name == self.step:
            self.entered.set()
            await self.release.wait()
        return await self._run_agent(agent, input, ctx, **kw)


def _script(executor: Any, turns: int) -> None:
    executor.script("context_extraction", *[snapshot("other")] * turns)
    executor.script("rule_filtering", *[decisions()] * turns)
    executor.script("generation", *[reply(f"Reply {n}.") for n in range(1, turns + 1)])
    executor.script("enforcement", *[COMPLIES] * turns)


async def test_turns_of_one_session_queue_up_in_a_process(rig: dict[str, Any]) -> None:
    workflow, executor = rig["workflow"], rig["executor"]
    _script(executor, 2)
    gate = _Gate(executor, "generation")
    first = asyncio.ensure_future(turn(workflow, "acme", "one"))
    await gate.entered.wait()
    second = asyncio.ensure_future(turn(workflow, "acme", "two"))
    await asyncio.sleep(0.05)
    assert not second.done() and [c.step_name for _, c in executor.calls].count("context_extraction") == 1
    gate.release.set()
    results = await asyncio.gather(first, second)
    assert [r.turn_number for r in results] == [1, 2] and [r.reply for r in results] == ["Reply 1.", "Reply 2."]


async def test_a_turn_waiting_too_long_for_its_session_is_refused(rig: dict[str, Any]) -> None:
    workflow, executor = rig["workflow"], rig["executor"]
    workflow.session_locks = SessionLocks(wait_seconds=0.05)
    _script(executor, 1)
    gate = _Gate(executor, "generation")
    first = asyncio.ensure_future(turn(workflow, "acme", "one"))
    await gate.entered.wait()
    with pytest.raises(SessionBusyError, match="busy"):
        await turn(workflow, "acme", "two")
    gate.release.set()
    assert (await first).turn_number == 1
    assert len(rig["turns"].list("acme")) == 1


async def test_two_processes_on_one_session_take_turns(rig: dict[str, Any], database_url: str) -> None:
    services, executor, engine = rig["workflow"].turn_services, rig["executor"], rig["async_engine"]
    # two processes: two workflows over one database, each with its own in-process locks
    here = build_alignment_workflow(
        services,
        db=create_agno_db(database_url, db_engine=engine),
        session_locks=SessionLocks(leases=SessionLeases(engine)),
    )
    there = build_alignment_workflow(
        services,
        db=create_agno_db(database_url, db_engine=engine),
        session_locks=SessionLocks(wait_seconds=0.3, leases=SessionLeases(engine)),
    )
    _script(executor, 2)
    gate = _Gate(executor, "generation")
    slow = asyncio.ensure_future(turn(here, "acme", "slow"))
    await gate.entered.wait()  # the slow turn read the session (turn 1) and is writing its reply
    with pytest.raises(SessionBusyError, match="another process"):
        await turn(there, "acme", "refused")
    gate.release.set()
    assert (await slow).turn_number == 1
    assert (await turn(there, "acme", "next")).turn_number == 2  # the lease was given back
    records = await rig["turns"].aget("acme", session_id("acme", "support", "c1"))
    assert [r.message for r in records] == ["slow", "next"]
    state = await here.aget_session_state(session_id("acme", "support", "c1"))
    assert state["alignment"]["turn"] == 3


async def test_a_lease_is_exclusive_per_tenant_and_session_and_expires(rig: dict[str, Any]) -> None:
    now = [dt.datetime(2026, 12, 5, tzinfo=dt.UTC)]
    leases = SessionLeases(rig["async_engine"], ttl_seconds=60, clock=lambda: now[0])
    holder = await leases.try_acquire("acme", "acme:support:c1")
    assert holder and await leases.try_acquire("acme", "acme:support:c1") is None
    other = await leases.try_acquire("globex", "acme:support:c1")  # another tenant's row, whatever the id
    assert other and other != holder
    now[0] += dt.timedelta(seconds=61)  # the holder died: its lease is taken over once expired
    taken = await leases.try_acquire("acme", "acme:support:c1")
    assert taken and taken != holder
    assert not await leases.release("acme", "acme:support:c1", holder)  # no longer the dead holder's
    assert await leases.release("acme", "acme:support:c1", taken)
    assert await leases.try_acquire("acme", "acme:support:c1")


async def test_a_failed_or_cancelled_turn_gives_its_lease_back(rig: dict[str, Any]) -> None:
    workflow, executor = rig["workflow"], rig["executor"]
    workflow.session_locks = SessionLocks(wait_seconds=0.5, leases=SessionLeases(rig["async_engine"]))
    executor.script("context_extraction", ProviderUnavailable("down", provider="openai", status_code=503))
    with pytest.raises(ProviderUnavailable):
        await turn(workflow, "acme", "fails")
    _script(executor, 2)
    gate = _Gate(executor, "generation")
    cancelled = asyncio.ensure_future(turn(workflow, "acme", "cancelled"))
    await gate.entered.wait()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.step = "none"
    assert (await turn(workflow, "acme", "next")).turn_number == 1  # neither left the session held
    async with rig["async_engine"].connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM session_leases"))).scalar_one() == 0
    assert len(workflow.session_locks) == 0


async def test_a_session_whose_write_was_lost_catches_up_with_its_records(rig: dict[str, Any]) -> None:
    workflow, executor = rig["workflow"], rig["executor"]
    db, original = workflow.db, workflow.db.upsert_session
    calls = {"n": 0}

    async def lose_the_first_write(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the database refuses the session's write once (Agno logs it and goes on)
            raise OSError("disk I/O error")
        return await original(*args, **kwargs)

    db.upsert_session = lose_the_first_write
    _script(executor, 3)
    assert (await turn(workflow, "acme", "one")).turn_number == 1  # recorded; the session write was lost
    with pytest.raises(TurnExistsError, match="send this turn again"):
        await turn(workflow, "acme", "two")  # the session still said turn 1: caught up, not stuck
    state = await workflow.aget_session_state(session_id("acme", "support", "c1"))
    assert state["alignment"]["turn"] == 2
    assert (await turn(workflow, "acme", "two, again")).turn_number == 2
    records = await rig["turns"].aget("acme", session_id("acme", "support", "c1"))
    assert [r.message for r in records] == ["one", "two, again"]
