"""The shipped support agent's hard rules decided by `check` expressions (no judge call): what they catch
and what they let through. A word list is only as good as its words: these pin down the intent."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from focal.alignment import compile_expression

RULES = Path(__file__).resolve().parents[3] / "configs" / "alignment" / "support" / "rules.yaml"
CHECKS = {r["id"]: compile_expression(r["check"]) for r in yaml.safe_load(RULES.read_text())["rules"] if "check" in r}


@pytest.mark.parametrize(
    ("reply", "complies"),
    [
        ("Thanks for your message. Let me help you with that.", True),
        ("I am sorry about the delay, that must be frustrating.", True),
        ("That's a damn shame.", False),
        ("What a load of bullshit.", False),  # a stem inside a longer word
        ("You dumbass.", False),
        ("wtf", False),
    ],
)
def test_no_profanity(reply: str, complies: bool) -> None:
    assert CHECKS["no_profanity"].evaluate({"reply": reply}) is complies


@pytest.mark.parametrize(
    ("reply", "complies"),
    [
        ("Tracking shows an expected delivery on Dec 8.", True),
        ("It's expected to arrive by Friday, according to the carrier.", True),
        ("It was delivered on May 3.", True),
        ("I can't promise a delivery date, sorry.", True),
        ("It will arrive tomorrow!", False),
        ("We guarantee delivery by Friday.", False),
        ("Your parcel arrives on Monday.", False),
        ("You'll get it by Friday.", False),
        ("It'll be there by Monday.", False),
    ],
)
def test_no_delivery_promises(reply: str, complies: bool) -> None:
    assert CHECKS["no_delivery_promises"].evaluate({"reply": reply}) is complies


def test_the_refund_check_reads_the_amount_and_the_reply() -> None:
    check = CHECKS["refund_needs_human_above_limit"]
    assert check.evaluate({"reply": "Your refund is approved.", "refund_amount": 20}) is True
    assert check.evaluate({"reply": "Your refund is approved.", "refund_amount": 80}) is False
    assert check.evaluate({"reply": "A colleague will review it.", "refund_amount": 80}) is True
