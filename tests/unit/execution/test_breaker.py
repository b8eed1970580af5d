"""Circuit breaker: transitions, the single half-open probe, extended cool-downs, stale results.

`BreakerMachine` drives many requests in flight at once (admit, finish in any order, release, advance a
fake clock) and checks the spec's rules directly; the reference-model test pins the ticket-less API.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from focal.execution import BreakerPolicy, BreakerState, CircuitBreaker
from focal.execution import breaker as breaker_module
from focal.execution.breaker import BreakerTicket
from tests.fakes.logs import captured_logs


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 3, window: float = 10.0, cooldown: float = 5.0) -> tuple[CircuitBreaker, Clock, list]:
    clock = Clock()
    changes: list[tuple[str, str, str]] = []
    breaker = CircuitBreaker(
        "openai:cheap",
        BreakerPolicy(
            failure_threshold=threshold,
            window_seconds=window,
            cooldown_seconds=cooldown,
            cooldown_multiplier=2.0,
            max_cooldown_seconds=40.0,
        ),
        clock=clock,
        on_change=lambda key, old, new: changes.append((key, old.value, new.value)),
    )
    return breaker, clock, changes


def test_opens_after_threshold_failures_within_window() -> None:
    breaker, _, changes = make()
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert changes == [("openai:cheap", "closed", "open")]


def test_failures_outside_window_do_not_add_up() -> None:
    breaker, clock, _ = make(threshold=3, window=10)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 11
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_a_flaky_provider_opens_but_a_busy_ones_scattered_errors_do_not() -> None:
    flaky, _, _ = make(threshold=3, window=10)
    for ok in (True, False, False, True, False):  # 3 failures in 5 results
        assert flaky.state is BreakerState.CLOSED
        flaky.record_success() if ok else flaky.record_failure()
    assert flaky.state is BreakerState.OPEN
    busy, _, _ = make(threshold=3, window=10)
    for _ in range(3):  # 3 failures among 300 results
        for _ in range(99):
            busy.record_success()
        busy.record_failure()
    assert busy.state is BreakerState.CLOSED
    with pytest.raises(ValueError, match="failure_ratio"):
        BreakerPolicy(failure_ratio=0)


def test_a_provider_that_goes_down_after_healthy_traffic_opens_at_once() -> None:
    breaker, clock, _ = make(threshold=3, window=10)
    for _ in range(500):  # a busy, healthy provider
        breaker.record_success()
    for _ in range(3):  # then down: three failures in a row open it, the old successes notwithstanding
        assert breaker.state is BreakerState.CLOSED
        clock.now += 0.1
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_the_failure_ratio_is_exact() -> None:
    breaker = CircuitBreaker("k", BreakerPolicy(failure_threshold=7, failure_ratio=0.07), clock=lambda: 0.0)
    for _ in range(87):
        breaker.record_success()
    for _ in range(6):  # 93 successes in all
        breaker.record_failure()
        breaker.record_success()  # never in a row
    breaker.record_failure()  # 7 failures in 100 results: exactly 0.07
    assert breaker.state is BreakerState.OPEN


def test_half_open_lets_exactly_one_probe_and_success_closes() -> None:
    breaker, clock, changes = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() is True
    assert breaker.allow() is False  # second caller while the probe is out
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert [c[2] for c in changes] == ["open", "half_open", "closed"]


def test_failed_probe_reopens_with_longer_cooldown_capped() -> None:
    breaker, clock, _ = make(cooldown=5)
    for _ in range(3):
        breaker.record_failure()
    cooldowns = []
    for _ in range(5):
        clock.now += breaker.cooldown
        assert breaker.allow()
        breaker.record_failure()
        assert breaker.state is BreakerState.OPEN
        cooldowns.append(breaker.cooldown)
    assert cooldowns == [10, 20, 40, 40, 40]
    clock.now += 39
    assert breaker.state is BreakerState.OPEN
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN


def test_released_probe_lets_another_through() -> None:
    breaker, clock, _ = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.release_probe()
    assert breaker.allow()


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(ValueError):
        BreakerPolicy(cooldown_multiplier=0.5)


class Model:
    """A reference model of the ticket-less API (`allow()`, `record_*()` without a ticket), which keeps
    its old semantics for callers that don't pass tickets: any late result counts."""

    def __init__(self, threshold: int, window: float, cooldown: float) -> None:
        self.threshold, self.window, self.base = threshold, window, cooldown
        self.state = "closed"
        self.failures: list[float] = []
        self.successes: list[float] = []
        self.in_a_row = 0
        self.opened_at = 0.0
        self.cooldown = cooldown
        self.probe = False

    def current(self, now: float) -> str:
        if self.state == "open" and now - self.opened_at >= self.cooldown:
            self.state = "half_open"
        return self.state

    def allow(self, now: float) -> bool:
        state = self.current(now)
        if state == "closed":
            return True
        if state == "half_open" and not self.probe:
            self.probe = True
            return True
        return False

    def success(self, now: float) -> None:
        self.current(now)
        self.probe = False
        self.in_a_row = 0
        if self.state != "closed":
            self.state, self.cooldown, self.failures, self.successes = "closed", self.base, [], []
            return
        self.successes.append(now)

    def failure(self, now: float) -> None:
        self.current(now)
        if self.state == "half_open" or self.probe:
            self.probe = False
            self.cooldown = max(self.base, min(self.cooldown * 2, 40.0))
            self.state, self.opened_at, self.failures, self.successes, self.in_a_row = "open", now, [], [], 0
            return
        if self.state == "open":
            return
        self.failures = [t for t in self.failures if t >= now - self.window] + [now]
        self.successes = [t for t in self.successes if t >= now - self.window]
        self.in_a_row += 1
        failed = len(self.failures)
        flaky = 2 * failed >= failed + len(self.successes)  # the default ratio, 0.5
        if failed >= self.threshold and (self.in_a_row >= self.threshold or flaky):
            self.state, self.opened_at, self.failures, self.successes, self.in_a_row = "open", now, [], [], 0


ops = st.lists(
    st.tuples(st.sampled_from(["allow", "success", "failure", "tick"]), st.floats(min_value=0, max_value=8)),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops, threshold=st.integers(1, 4))
def test_ticketless_calls_match_reference_model(ops: list[tuple[str, float]], threshold: int) -> None:
    breaker, clock, _ = make(threshold=threshold, window=10, cooldown=5)
    model = Model(threshold, 10, 5)
    for op, dt in ops:
        if op == "tick":
            clock.now += dt
        elif op == "allow":
            assert breaker.allow() == model.allow(clock.now)
        elif op == "success":
            breaker.record_success()
            model.success(clock.now)
        else:
            breaker.record_failure()
            model.failure(clock.now)
        assert breaker.state.value == model.current(clock.now)
        # invariants: never more than one probe at a time; open never lets traffic through
        if breaker.state is BreakerState.OPEN:
            assert not breaker.allow()
            model.allow(clock.now)


# --- tickets: results from requests admitted before the last state change are stale ---------------------


def trip(breaker: CircuitBreaker, threshold: int = 3) -> None:
    for _ in range(threshold):
        ticket = breaker.admit()
        assert ticket
        breaker.record_failure(ticket)
    assert breaker.state is BreakerState.OPEN


def test_admit_returns_truthy_tickets_and_allow_stays_boolean() -> None:
    breaker, _, _ = make()
    ticket = breaker.admit()
    assert isinstance(ticket, BreakerTicket) and ticket and not ticket.probe
    assert breaker.allow() is True
    trip(breaker)
    assert breaker.admit() is None
    assert breaker.allow() is False


def test_late_success_from_before_opening_does_not_close_open_breaker() -> None:
    """Defect (a): a request admitted while closed finishes after the breaker opened."""
    breaker, clock, changes = make()
    slow = breaker.admit()
    trip(breaker)
    clock.now += 1
    breaker.record_success(slow)
    assert breaker.state is BreakerState.OPEN
    assert breaker.admit() is None  # the cool-down still applies
    clock.now += 4
    assert breaker.state is BreakerState.HALF_OPEN
    assert [c[2] for c in changes] == ["open", "half_open"]


def test_late_results_from_before_the_probe_do_not_decide_half_open() -> None:
    """Defect (b): older requests finish while the probe is out; only the probe's own result counts."""
    breaker, clock, changes = make(cooldown=5)
    old_ok, old_bad = breaker.admit(), breaker.admit()
    trip(breaker)
    clock.now += 5
    probe = breaker.admit()
    assert probe and probe.probe
    breaker.record_failure(old_bad)
    breaker.record_success(old_ok)
    breaker.release_probe(old_ok)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.cooldown == 5
    assert breaker.probe_in_flight
    assert breaker.admit() is None  # still exactly one probe
    breaker.record_failure(probe)
    assert breaker.state is BreakerState.OPEN and breaker.cooldown == 10
    assert [c[2] for c in changes] == ["open", "half_open", "open"]


def test_probe_result_after_state_change_is_stale() -> None:
    breaker, clock, _ = make()
    trip(breaker)
    clock.now += 5
    first = breaker.admit()
    breaker.release_probe(first)  # e.g. cancelled
    second = breaker.admit()
    assert first and second and second.probe and first != second
    breaker.record_success(first)  # the released probe reports anyway: not the verdict
    assert breaker.state is BreakerState.HALF_OPEN and breaker.probe_in_flight
    breaker.record_success(second)
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure(second)  # a second report of the same ticket is stale too
    assert breaker.state is BreakerState.CLOSED


def test_ticket_from_another_breaker_is_refused() -> None:
    breaker, _, _ = make()
    other = CircuitBreaker("anthropic:cheap")
    ticket = other.admit()
    assert ticket
    with pytest.raises(ValueError, match="anthropic:cheap"):
        breaker.record_success(ticket)


def test_transitions_are_logged_and_stale_results_noted() -> None:
    breaker, clock, _ = make()
    slow = breaker.admit()
    with captured_logs(breaker_module) as logs:
        trip(breaker)
        breaker.record_success(slow)
        clock.now += 5
        assert breaker.state is BreakerState.HALF_OPEN
    changed = [(e["old"], e["new"]) for e in logs if e["event"] == "breaker_state_changed"]
    assert changed == [("closed", "open"), ("open", "half_open")]
    stale = [e for e in logs if e["event"] == "breaker_stale_result_ignored"]
    assert len(stale) == 1 and stale[0]["result"] == "success" and stale[0]["breaker"] == "openai:cheap"


# --- the spec as a state machine: many requests in flight, results in any order ----------------------------

BASE_COOLDOWN, MAX_COOLDOWN, WINDOW = 5.0, 40.0, 10.0


class BreakerMachine(RuleBasedStateMachine):
    """Checks the spec's rules directly, not a copy of the implementation.

    The machine's own bookkeeping: the epoch (number of state changes seen by `on_change`) each request was
    admitted in, when the breaker opened, the cool-down the spec implies, and the failures counted in
    the current closed period.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.changes: list[BreakerState] = []
        self.breaker: CircuitBreaker
        self.threshold = 3
        self.inflight: list[tuple[BreakerTicket, int]] = []  # (ticket, epoch at admission)
        self.released_probes: list[BreakerTicket] = []
        self.opened_at = 0.0
        self.expected_cooldown = BASE_COOLDOWN
        self.failures: list[float] = []
        self.successes: list[float] = []
        self.in_a_row = 0

    @initialize(threshold=st.integers(1, 4))
    def setup(self, threshold: int) -> None:
        self.threshold = threshold
        self.breaker = CircuitBreaker(
            "openai:cheap",
            BreakerPolicy(
                failure_threshold=threshold,
                window_seconds=WINDOW,
                cooldown_seconds=BASE_COOLDOWN,
                cooldown_multiplier=2.0,
                max_cooldown_seconds=MAX_COOLDOWN,
            ),
            clock=self.clock,
            on_change=self._changed,
        )

    def _changed(self, key: str, old: BreakerState, new: BreakerState) -> None:
        assert old is not new
        self.changes.append(new)
        self.failures, self.successes, self.in_a_row = [], [], 0
        if new is BreakerState.OPEN:
            self.opened_at = self.clock.now

    @property
    def epoch(self) -> int:
        return len(self.changes)

    @property
    def last_seen(self) -> BreakerState:
        return self.changes[-1] if self.changes else BreakerState.CLOSED

    def cooled_down(self) -> bool:
        return self.clock.now - self.opened_at >= self.expected_cooldown

    def current_probes(self) -> list[BreakerTicket]:
        return [t for t, epoch in self.inflight if epoch == self.epoch and self.last_seen is BreakerState.HALF_OPEN]

    def snapshot(self) -> tuple[Any, ...]:
        b = self.breaker
        # the failure window and opening time are internal, but a stale result must not touch them either
        return (b.state, b.cooldown, b.generation, b.probe_in_flight, list(b._failures), b._opened_at, self.epoch)

    # -- rules --

    @rule(dt=st.one_of(st.sampled_from([0.0, 1.0, 2.5, BASE_COOLDOWN, WINDOW]), st.floats(0, 45)))
    def tick(self, dt: float) -> None:
        self.clock.now += dt

    @rule()
    def admit(self) -> None:
        before = self.last_seen
        had_probe = bool(self.current_probes())
        open_and_cooling = before is BreakerState.OPEN and not self.cooled_down()
        ticket = self.breaker.admit()
        if before is BreakerState.CLOSED:
            assert ticket and not ticket.probe, "closed admits everything"
        elif open_and_cooling:
            assert ticket is None, "open admits nothing until the cool-down passed"
            assert self.last_seen is BreakerState.OPEN
        elif had_probe:
            assert ticket is None, "half-open admits one probe at a time"
        else:
            assert ticket and ticket.probe, "half-open (or a cooled-down open) lets one probe through"
            assert self.last_seen is BreakerState.HALF_OPEN
        if ticket:
            self.inflight.append((ticket, self.epoch))

    @precondition(lambda self: self.inflight)
    @rule(pick=st.integers(0, 10**6), ok=st.booleans())
    def finish(self, pick: int, ok: bool) -> None:
        ticket, admitted_in = self.inflight.pop(pick % len(self.inflight))
        self._settle()
        if admitted_in != self.epoch:
            self._assert_no_effect(lambda: self._report(ticket, ok))
            return
        state = self.last_seen
        assert state is not BreakerState.OPEN, "nothing is admitted while open"
        now = self.clock.now
        if state is BreakerState.HALF_OPEN:
            assert ticket.probe
            previous = self.expected_cooldown
            self._report(ticket, ok)
            if ok:
                assert self.breaker.state is BreakerState.CLOSED, "the probe's success closes"
                self.expected_cooldown = BASE_COOLDOWN
            else:
                assert self.breaker.state is BreakerState.OPEN, "the probe's failure re-opens"
                self.expected_cooldown = max(BASE_COOLDOWN, min(previous * 2, MAX_COOLDOWN))
                assert self.expected_cooldown > previous or previous == MAX_COOLDOWN
                assert self.opened_at == now
            assert self.breaker.cooldown == self.expected_cooldown
            return
        failures = [t for t in [*self.failures, now] if t >= now - WINDOW]
        successes = [t for t in self.successes if t >= now - WINDOW]
        in_a_row = self.in_a_row + 1
        self._report(ticket, ok)
        if ok:  # counts towards the window's ratio
            assert self.breaker.state is BreakerState.CLOSED
            self.successes.append(now)
            self.in_a_row = 0
            return
        flaky = 2 * len(failures) >= len(failures) + len(successes)
        if len(failures) >= self.threshold and (in_a_row >= self.threshold or flaky):
            assert self.breaker.state is BreakerState.OPEN, f"{len(failures)} of {len(failures) + len(successes)} open"
            assert self.opened_at == now
        else:
            assert self.breaker.state is BreakerState.CLOSED
            self.failures, self.successes, self.in_a_row = failures, successes, in_a_row

    @precondition(lambda self: self.inflight)
    @rule(pick=st.integers(0, 10**6))
    def release(self, pick: int) -> None:
        ticket, admitted_in = self.inflight.pop(pick % len(self.inflight))
        self._settle()
        if ticket.probe and admitted_in == self.epoch and self.last_seen is BreakerState.HALF_OPEN:
            before = self.snapshot()
            self.breaker.release_probe(ticket)
            assert not self.breaker.probe_in_flight
            assert self.snapshot()[:3] == before[:3], "releasing the probe frees the slot, nothing else"
            self.released_probes.append(ticket)
        else:
            self._assert_no_effect(lambda: self.breaker.release_probe(ticket))

    @precondition(lambda self: self.released_probes)
    @rule(pick=st.integers(0, 10**6), ok=st.booleans())
    def released_probe_reports_anyway(self, pick: int, ok: bool) -> None:
        ticket = self.released_probes.pop(pick % len(self.released_probes))
        self._settle()
        self._assert_no_effect(lambda: self._report(ticket, ok))

    def _settle(self) -> None:
        """Apply a due open → half-open first: that change is the clock's doing, not the result's."""
        assert self.breaker.state is not None

    def _report(self, ticket: BreakerTicket, ok: bool) -> None:
        if ok:
            self.breaker.record_success(ticket)
        else:
            self.breaker.record_failure(ticket)

    def _assert_no_effect(self, call: Any) -> None:
        before = self.snapshot()
        call()
        assert self.snapshot() == before, "a stale result never changes the state"

    # -- invariants --

    @invariant()
    def never_two_probes(self) -> None:
        probes = self.current_probes()
        assert len(probes) <= 1, probes
        if self.last_seen is BreakerState.HALF_OPEN:
            assert self.breaker.probe_in_flight == bool(probes)

    @invariant()
    def open_until_cooled_down(self) -> None:
        seen = self.last_seen
        state = self.breaker.state
        if seen is BreakerState.OPEN:
            assert state is (BreakerState.HALF_OPEN if self.cooled_down() else BreakerState.OPEN)
        assert self.breaker.cooldown == self.expected_cooldown

    @invariant()
    def nothing_current_while_open(self) -> None:
        if self.last_seen is BreakerState.OPEN:
            assert all(epoch != self.epoch for _, epoch in self.inflight)


BreakerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
test_breaker_state_machine = BreakerMachine.TestCase
