"""`assert_outcome` (tests/fakes/outcomes.py) itself: it passes honest outcomes and catches each lie a
fault-injection test relies on it to catch. Synthetic requests and records; no server is started."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from focal.execution import (
    AllAttemptsFailedError,
    Attempt,
    AuthenticationError,
    LLMResponse,
    ProviderUnavailable,
    StreamInterruptedError,
    TokenUsage,
)
from focal.telemetry import LLMCallRecord
from tests.fakes.outcomes import Mark, StreamOutcome, assert_outcome, err, ok
from tests.fakes.provider_server import FakeProviderServer, RecordedRequest

SONNET, GPT4O = "anthropic/claude-sonnet-5", "openai/gpt-4o"


def server_with(*models: str) -> FakeProviderServer:
    server = FakeProviderServer()
    for i, ref in enumerate(models, 1):
        provider, model = ref.split("/", 1)
        path = "/v1/messages" if provider == "anthropic" else "/v1/chat/completions"
        server.requests.append(
            RecordedRequest("POST", path, {}, b"", {"model": model}, provider, f"req_{i}")  # type: ignore[arg-type]
        )
    return server


def record(ref: str, status: str, error_class: str | None = None, **kw: Any) -> LLMCallRecord:
    provider, model = ref.split("/", 1)
    fields: dict[str, Any] = {
        "tenant_id": "acme",
        "agent_id": "support",
        "step_name": "generation",
        "provider": provider,
        "tier": "capable",
        "model_id": model,
        "status": status,
        "error_class": error_class,
        "error_message": f"{error_class}: boom" if error_class else None,
    }
    fields.update(kw)
    fields["total_tokens"] = fields.get("input_tokens", 0) + fields.get("output_tokens", 0)
    return LLMCallRecord(**fields)


def attempt(r: LLMCallRecord) -> Attempt:
    return Attempt(
        model_ref=f"{r.provider}/{r.model_id}",
        provider=r.provider,
        tier=r.tier,
        hop=r.fallback_hop,
        attempt_number=r.attempt_number,
        status=r.status,
        error_class=r.error_class,
        cause=r.fallback_cause,
    )


def answer(records: list[LLMCallRecord], content: str = "whole answer", request_id: str = "req_2") -> LLMResponse:
    last = records[-1]
    return LLMResponse(
        content=content,
        model_id=last.model_id,
        provider=last.provider,
        tier=last.tier,
        usage=TokenUsage(input=last.input_tokens, output=last.output_tokens),
        cost=last.cost_usd,
        latency_ms=1.0,
        request_id=request_id,
        attempts=[attempt(r) for r in records],
        fallback_used=last.fallback_hop > 0,
        call_id=last.call_id,
    )


def retried() -> tuple[FakeProviderServer, list[LLMCallRecord]]:
    records = [
        record(SONNET, "error", "ProviderUnavailable"),
        record(SONNET, "success", attempt_number=2, input_tokens=42, output_tokens=7, cost_usd=Decimal("0.1")),
    ]
    records[1].request_id = "req_2"
    return server_with(SONNET, SONNET), records


EXPECTED = {"requests": 2, "answered": SONNET, "written": [err(SONNET, "ProviderUnavailable"), ok(SONNET)]}


def test_an_honest_retry_passes() -> None:
    server, records = retried()
    assert_outcome(answer(records), server, records, **EXPECTED, content="whole answer")


@pytest.mark.parametrize(
    "lie",
    [
        "extra-request",
        "record-missing",
        "wrong-error-class",
        "wrong-hop",
        "wrong-attempt-number",
        "failed-attempt-priced",
        "record-for-another-model",
        "other-model-answered",
        "attempts-differ",
        "request-id-differs",
        "failed-attempt-with-unexpected-tokens",
    ],
)
def test_each_lie_about_a_plain_call_is_caught(lie: str) -> None:
    server, records = retried()
    response = answer(records)
    if lie == "extra-request":
        server = server_with(SONNET, SONNET, SONNET)
    elif lie == "record-missing":
        records = records[1:]
        records[0].attempt_number = 1
    elif lie == "wrong-error-class":
        records[0].error_class = "ProviderTimeoutError"
    elif lie == "wrong-hop":
        records[1].fallback_hop = 1
    elif lie == "wrong-attempt-number":
        records[1].attempt_number = 1
    elif lie == "failed-attempt-priced":
        records[0].cost_usd = Decimal("0.01")
    elif lie == "record-for-another-model":
        records[0].provider, records[0].model_id = "openai", "gpt-4o"
    elif lie == "other-model-answered":
        response = replace(response, provider="openai", model_id="gpt-4o")
    elif lie == "attempts-differ":
        response = replace(response, attempts=response.attempts[1:])
    elif lie == "request-id-differs":
        response = replace(response, request_id="req_1")
    elif lie == "failed-attempt-with-unexpected-tokens":
        records[0].input_tokens, records[0].output_tokens, records[0].total_tokens = 42, 7, 49
    with pytest.raises(AssertionError):
        assert_outcome(response, server, records, **EXPECTED)


def test_a_typed_error_with_no_answer() -> None:
    server = server_with(SONNET)
    records = [record(SONNET, "error", "AuthenticationError")]
    error = AuthenticationError("invalid x-api-key", provider="anthropic", model="claude-sonnet-5", status_code=401)
    expected: dict[str, Any] = {"requests": 1, "answered": None, "written": [err(SONNET, "AuthenticationError")]}
    assert_outcome(error, server, records, error=AuthenticationError, **expected)
    with pytest.raises(AssertionError):  # the type is exact
        assert_outcome(error, server, records, error=ProviderUnavailable, **expected)
    with pytest.raises(AssertionError):  # an error must be named when nobody answered
        assert_outcome(error, server, records, **expected)
    failed = AllAttemptsFailedError("all failed", attempts=[attempt(records[0])], last=error)
    assert_outcome(failed, server, records, error=AllAttemptsFailedError, last_error=AuthenticationError, **expected)
    with pytest.raises(AssertionError):
        assert_outcome(
            failed, server, records, error=AllAttemptsFailedError, last_error=ProviderUnavailable, **expected
        )


def interrupted(received: str, partial: str | None = None) -> StreamInterruptedError:
    return StreamInterruptedError(
        "cut",
        partial_content=received if partial is None else partial,
        after_first_token=True,
        provider="anthropic",
        model="claude-sonnet-5",
    )


def test_a_truncated_stream_must_end_with_stream_interrupted() -> None:
    server = server_with(SONNET)
    records = [record(SONNET, "error", "StreamInterruptedError", streamed=True)]
    expected: dict[str, Any] = {
        "requests": 1,
        "answered": None,
        "written": [err(SONNET, "StreamInterruptedError")],
        "error": StreamInterruptedError,
        "partial": "One two three",
    }
    honest = StreamOutcome(deltas=["One ", "two"], error=interrupted("One two"))
    assert_outcome(honest, server, records, **expected)

    done = [record(SONNET, "success", streamed=True, request_id="req_1")]
    truncated_as_done = StreamOutcome(deltas=["One ", "two"], final=answer(done, "One two", "req_1"))
    with pytest.raises(AssertionError):  # a truncated answer reported as a success
        assert_outcome(truncated_as_done, server, done, **expected)
    with pytest.raises(AssertionError):  # the partial content is not what the caller received
        assert_outcome(
            StreamOutcome(deltas=["One ", "two"], error=interrupted("One", "One")), server, records, **expected
        )
    quiet = StreamInterruptedError("cut", partial_content="One two", after_first_token=False)
    with pytest.raises(AssertionError):  # tokens were sent: after_first_token must say so
        assert_outcome(StreamOutcome(deltas=["One ", "two"], error=quiet), server, records, **expected)
    records[0].streamed = False
    with pytest.raises(AssertionError):  # a streamed attempt recorded as a plain one
        assert_outcome(honest, server, records, **expected)
    records[0].streamed = True
    with pytest.raises(AssertionError):  # the whole answer is not a truncated one
        assert_outcome(
            StreamOutcome(deltas=["One two three"], error=interrupted("One two three")), server, records, **expected
        )


def test_a_stream_answer_is_what_the_caller_received() -> None:
    server = server_with(SONNET)
    records = [record(SONNET, "success", streamed=True, request_id="req_1")]
    expected: dict[str, Any] = {"requests": 1, "answered": SONNET, "written": [ok(SONNET)]}
    assert_outcome(
        StreamOutcome(deltas=["whole ", "answer"], final=answer(records, request_id="req_1")),
        server,
        records,
        **expected,
    )
    with pytest.raises(AssertionError):
        assert_outcome(
            StreamOutcome(deltas=["whole "], final=answer(records, request_id="req_1")), server, records, **expected
        )
    records[0].streamed = False
    with pytest.raises(AssertionError):
        assert_outcome(
            StreamOutcome(deltas=["whole ", "answer"], final=answer(records, request_id="req_1")),
            server,
            records,
            **expected,
        )


def test_since_counts_only_this_call() -> None:
    server, records = retried()
    earlier = record(GPT4O, "error", "ProviderUnavailable")
    server.requests.insert(0, server_with(GPT4O).requests[0])
    records.insert(0, earlier)
    assert_outcome(answer(records[1:]), server, records, since=Mark(1, 1), **EXPECTED)
    with pytest.raises(AssertionError):
        assert_outcome(answer(records[1:]), server, records, **EXPECTED)


def test_a_billed_failure_is_checked_only_as_told() -> None:
    server, records = retried()
    records[0].input_tokens, records[0].output_tokens, records[0].total_tokens = 42, 7, 49
    records[0].cost_usd = Decimal("0.2")
    billed = {**EXPECTED, "written": [err(SONNET, "ProviderUnavailable", billed=(42, 7)), ok(SONNET)]}
    assert_outcome(answer(records), server, records, **billed)
    unchecked = {**EXPECTED, "written": [err(SONNET, "ProviderUnavailable", billed=None), ok(SONNET)]}
    assert_outcome(answer(records), server, records, **unchecked)
    records[0].input_tokens, records[0].output_tokens, records[0].total_tokens = 0, 0, 0
    with pytest.raises(AssertionError):  # charged for no tokens
        assert_outcome(answer(records), server, records, **unchecked)
