"""Budget limits: only amounts that 64-bit integer nano-dollars hold exactly enough are accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from focal.execution import BudgetManager, ConfigurationError
from focal.execution.budgets import MAX_LIMIT_USD, check_limit_usd
from focal.storage import make_async_engine, upgrade


@pytest.fixture
async def budgets(tmp_path: Path) -> AsyncIterator[BudgetManager]:
    url = f"sqlite:///{tmp_path / 'focal.db'}"
    upgrade(url)
    engine = make_async_engine(url)
    yield BudgetManager(engine, ttl_seconds=0)
    await engine.dispose()


BAD_LIMITS = [
    ("lots", "not a number"),
    ("", "not a number"),
    (True, "not a number"),
    (None, "not a number"),
    ("NaN", "finite"),
    ("sNaN", "finite"),
    ("Infinity", "finite"),
    ("-Infinity", "finite"),
    (float("nan"), "finite"),
    (float("inf"), "finite"),
    (Decimal("NaN"), "finite"),
    ("-1", "negative"),
    ("-0.000000001", "negative"),
    ("0.000000000001", "below one nano-dollar"),
    ("0.0000000009", "below one nano-dollar"),
    (1e-12, "below one nano-dollar"),
    ("1e30", "above the largest budget"),
    ("1e999999999999", "above the largest budget"),
    ("9223372036.854775808", "above the largest budget"),
    (10**10, "above the largest budget"),
]


@pytest.mark.parametrize(("value", "fragment"), BAD_LIMITS)
def test_check_limit_refuses_with_a_one_line_error_naming_the_value(value: object, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_limit_usd(value)  # type: ignore[arg-type]
    message = str(info.value)
    assert fragment in message and repr(value) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", Decimal(0)),
        (0, Decimal(0)),
        ("-0", Decimal(0)),
        ("0.000000001", Decimal("0.000000001")),
        ("25", Decimal(25)),
        (0.5, Decimal("0.5")),
        ("1_000", Decimal(1000)),
        ("9223372036.854775807", MAX_LIMIT_USD),
    ],
)
def test_check_limit_accepts_zero_and_the_representable_range(value: object, expected: Decimal) -> None:
    assert check_limit_usd(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "fragment"), BAD_LIMITS)
async def test_set_budget_refuses_and_writes_nothing(budgets: BudgetManager, value: object, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as info:
        await budgets.set_budget("acme", "day", value)  # type: ignore[arg-type]
    assert "'acme'" in str(info.value)
    assert await budgets.budgets("acme", fresh=True) == ()


async def test_refused_change_keeps_the_previous_limit(budgets: BudgetManager) -> None:
    await budgets.set_budget("acme", "day", "2.50")
    with pytest.raises(ConfigurationError):
        await budgets.set_budget("acme", "day", "Infinity")
    assert [b.limit_usd for b in await budgets.budgets("acme", fresh=True)] == [Decimal("2.5")]


async def test_extreme_limits_round_trip_exactly(budgets: BudgetManager) -> None:
    await budgets.set_budget("acme", "day", MAX_LIMIT_USD)
    await budgets.set_budget("acme", "month", "0.000000001")
    by_period = {b.period.value: b.limit_usd for b in await budgets.budgets("acme", fresh=True)}
    assert by_period == {"day": MAX_LIMIT_USD, "month": Decimal("0.000000001")}


async def test_zero_limit_admits_only_free_calls(budgets: BudgetManager) -> None:
    from focal.execution import BudgetExceededError

    await budgets.set_budget("acme", "day", 0, on_limit="abort")
    assert await budgets.reserve("acme", Decimal(0)) is not None
    with pytest.raises(BudgetExceededError):
        await budgets.reserve("acme", Decimal("0.000000001"))


async def test_digits_finer_than_a_nano_dollar_are_rounded_down(budgets: BudgetManager) -> None:
    await budgets.set_budget("acme", "day", "1.0000000019")
    assert [b.limit_usd for b in await budgets.budgets("acme", fresh=True)] == [Decimal("1.000000001")]
