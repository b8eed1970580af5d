"""Circuit breaker: transitions, the single half-open probe, extended cool-downs — plus a state-machine model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focal.execution import BreakerPolicy, BreakerState, CircuitBreaker


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
    """A reference model of the breaker, checked against the real one step by step."""

    def __init__(self, threshold: int, window: float, cooldown: float) -> None:
        self.threshold, self.window, self.base = threshold, window, cooldown
        self.state = "closed"
        self.failures: list[float] = []
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
        if self.state != "closed":
            self.state = "closed"
            self.cooldown = self.base
        self.probe = False
        self.failures = []

    def failure(self, now: float) -> None:
        self.current(now)
        if self.state == "half_open" or self.probe:
            self.probe = False
            self.cooldown = max(self.base, min(self.cooldown * 2, 40.0))
            self.state, self.opened_at, self.failures = "open", now, []
            return
        if self.state == "open":
            return
        self.failures = [t for t in self.failures if t >= now - self.window] + [now]
        if len(self.failures) >= self.threshold:
            self.state, self.opened_at, self.failures = "open", now, []


ops = st.lists(
    st.tuples(st.sampled_from(["allow", "success", "failure", "tick"]), st.floats(min_value=0, max_value=8)),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops, threshold=st.integers(1, 4))
def test_breaker_matches_reference_model(ops: list[tuple[str, float]], threshold: int) -> None:
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
