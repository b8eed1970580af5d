"""Which values read from a user's message are taken: only collected variables, typed and validated."""

from __future__ import annotations

from focal.tools import shipped_catalog

from focal.alignment import compile_config, load_folder, user_values
from tests.unit.alignment.conftest import SUPPORT

_DOCUMENT, _EXPRESSIONS = load_folder(SUPPORT, shipped_catalog())
CONFIG = compile_config(_DOCUMENT, "acme", _EXPRESSIONS)


def test_collected_values_are_converted_to_their_type() -> None:
    accepted, rejected = user_values(CONFIG, {"refund_amount": "80", "order_number": " ORD-12345 "})
    assert accepted == {"refund_amount": 80.0, "order_number": "ORD-12345"} and rejected == {}


def test_profile_tool_and_unknown_names_are_never_taken_from_a_message() -> None:
    accepted, rejected = user_values(CONFIG, {"customer_tier": "gold", "refund_status": "approved", "tenant_id": "x"})
    assert accepted == {}
    assert set(rejected) == {"customer_tier", "refund_status", "tenant_id"}
    assert "not collected from the user" in rejected["customer_tier"]


def test_invalid_values_are_rejected_with_the_reason_and_absent_ones_ignored() -> None:
    accepted, rejected = user_values(CONFIG, {"order_number": "12345", "refund_amount": "lots", "x": None})
    assert accepted == {}
    assert "ORD" in rejected["order_number"] and "number" in rejected["refund_amount"] and "x" not in rejected
