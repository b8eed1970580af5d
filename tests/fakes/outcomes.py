"""One assertion for every fault-injection test: what was sent, who answered, what was recorded, and
that no damaged answer passed for a complete one.

A test drives `ResilientExecutor` against a `FakeProviderServer`, captures what the call produced with
`run_outcome(...)` (a response or the raised error) or `stream_outcome(...)` (the deltas the caller
received, the final response if any, the raised error if any), then::

    assert_outcome(
        outcome, server, records,
        requests=2,                                   # HTTP requests the fake received
        answered="anthropic/claude-sonnet-5",          # or None, with error=TheTypedError
        written=[err(SONNET_REF, "RateLimitError"), ok(SONNET_REF)],
    )

`written` lists the `LLMCallRecord`s expected, in order, one per attempt (`ok`, `err`, `skipped`), with
their model, status, error class, fallback hop and cause. The helper also checks, without being told:

- one non-skipped record per HTTP request, for the model that request asked for, in the same order
  (skipped records -- breaker open, window too small -- sent nothing);
- attempt numbers count 1, 2, ... within a hop (a skipped record has 0);
- a skipped record carries no tokens and no cost, a failed one no cost without tokens (and the tokens
  given by `billed`); the success record carries the response's tokens, cost, finish reason, request id;
- the response (or the typed error's `attempts`) lists the same attempts as the records;
- every attempt that was sent is recorded `streamed` exactly when the call was a stream;
- a streamed answer: the final response's content is exactly what the caller received; a damaged
  stream ends with `StreamInterruptedError` whose `partial_content` is exactly what the caller
  received -- never with a final response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from focal.execution import AllAttemptsFailedError, LLMResponse, StreamInterruptedError
from focal.telemetry import LLMCallRecord
from tests.fakes.provider_server import FakeProviderServer

__all__ = [
    "START",
    "Mark",
    "Rec",
    "StreamOutcome",
    "assert_outcome",
    "err",
    "mark",
    "ok",
    "run_outcome",
    "skipped",
    "stream_outcome",
]


class Rec(NamedTuple):
    """One expected `LLMCallRecord`. `model` is "provider/model-id"; `breaker` None is not checked.

    `billed` is the (input, output) tokens a failed attempt is recorded with: (0, 0) when the provider
    produced no answer (an HTTP or transport error), the answer's usage when it did and the attempt
    still failed (a filtered answer is billed), None to leave it unchecked. Ignored for a success
    (its tokens are the response's) and a skip (always zero).
    """

    model: str
    status: str
    error_class: str | None = None
    hop: int = 0
    cause: str | None = None
    breaker: str | None = None
    billed: tuple[int, int] | None = (0, 0)


def ok(model: str, *, hop: int = 0, cause: str | None = None, breaker: str | None = None) -> Rec:
    return Rec(model, "success", None, hop, cause, breaker)


def err(
    model: str,
    error_class: str,
    *,
    hop: int = 0,
    cause: str | None = None,
    breaker: str | None = None,
    billed: tuple[int, int] | None = (0, 0),
) -> Rec:
    return Rec(model, "error", error_class, hop, cause, breaker, billed)


def skipped(model: str, *, hop: int, cause: str | None, breaker: str | None = None) -> Rec:
    return Rec(model, "skipped", None, hop, cause, breaker)


class Mark(NamedTuple):
    """Where a phase of a test starts: requests and records before it are not part of its outcome."""

    requests: int
    records: int


START = Mark(0, 0)
"""The start of a test: everything the server and the sink saw."""


def mark(server: FakeProviderServer, records: Sequence[LLMCallRecord]) -> Mark:
    return Mark(len(server.requests), len(records))


@dataclass
class StreamOutcome:
    """What a caller of `executor.stream(...)` saw."""

    deltas: list[str] = field(default_factory=list)
    final: LLMResponse | None = None
    error: BaseException | None = None
    chunks_after_done: int = 0

    @property
    def received(self) -> str:
        return "".join(self.deltas)


async def run_outcome(call: Awaitable[LLMResponse]) -> LLMResponse | BaseException:
    """The response of `executor.run(...)`, or the exception it raised."""
    try:
        return await call
    except Exception as exc:  # the typed error is the outcome
        return exc


async def stream_outcome(chunks: AsyncIterator[Any]) -> StreamOutcome:
    """Read a whole `executor.stream(...)`: deltas, the final response, or the error that ended it."""
    out = StreamOutcome()
    try:
        async for chunk in chunks:
            if out.final is not None:
                out.chunks_after_done += 1
            if chunk.done:
                out.final = chunk.response
            else:
                out.deltas.append(chunk.delta)
    except Exception as exc:
        out.error = exc
    return out


def _ref(record: LLMCallRecord) -> str:
    return f"{record.provider}/{record.model_id}"


def assert_outcome(
    outcome: LLMResponse | BaseException | StreamOutcome,
    server: FakeProviderServer,
    records: Sequence[LLMCallRecord],
    *,
    requests: int,
    answered: str | None,
    written: Sequence[Rec],
    error: type[BaseException] | None = None,
    last_error: type[BaseException] | None = None,
    content: str | None = None,
    partial: str | None = None,
    since: Mark = START,
) -> None:
    """Assert the whole outcome of one executor call (see the module docstring).

    Args:
        outcome: from `run_outcome` / `stream_outcome` (a bare response or exception is accepted too).
        server, records: the fake and the records sink; only what came after `since` counts.
        requests: HTTP requests the fake received for this call (the attempt count on the wire).
        answered: "provider/model-id" of the model that answered; None when no model did.
        written: the expected records, in order.
        error: the typed error class when no model answered (required then; exact type).
        last_error: for `AllAttemptsFailedError`, the exact type of its `.last`.
        content: the expected answer (streams: what the caller received).
        partial: for a damaged stream, text the truncated answer must be a strict prefix of.
    """
    sent = server.requests[since.requests :]
    got = list(records[since.records :])
    streamed = isinstance(outcome, StreamOutcome)
    response: LLMResponse | None
    raised: BaseException | None
    if isinstance(outcome, StreamOutcome):
        response, raised = outcome.final, outcome.error
        assert outcome.chunks_after_done == 0, "chunks after the final response"
    elif isinstance(outcome, BaseException):
        response, raised = None, outcome
    else:
        response, raised = outcome, None
    assert not (response is not None and raised is not None), f"a final response AND an error: {raised!r}"

    # --- attempt count on the wire ------------------------------------------------------------
    asked = [r.model for r in sent]
    assert len(sent) == requests, f"HTTP requests: expected {requests}, got {len(sent)} ({asked})"

    # --- the records, one per attempt ---------------------------------------------------------
    actual = [Rec(_ref(r), r.status, r.error_class, r.fallback_hop, r.fallback_cause) for r in got]
    for i, w in enumerate(written[: len(actual)]):  # breaker states and tokens only where they are checked
        r = got[i]
        actual[i] = actual[i]._replace(
            breaker=r.breaker_state if w.breaker is not None else None,
            billed=(r.input_tokens, r.output_tokens) if w.billed is not None and w.status == "error" else w.billed,
        )
    assert actual == list(written), "records:\n  got      " + "\n           ".join(map(str, actual))
    sent_models = [r.model_id for r in got if r.status != "skipped"]
    assert sent_models == asked, f"one non-skipped record per HTTP request: records {sent_models}, wire {asked}"
    numbers: dict[int, int] = {}
    for r in got:
        if r.status == "skipped":
            assert r.attempt_number == 0, f"skipped record with attempt number {r.attempt_number}"
            continue
        numbers[r.fallback_hop] = numbers.get(r.fallback_hop, 0) + 1
        assert r.attempt_number == numbers[r.fallback_hop], (
            f"{_ref(r)} hop {r.fallback_hop}: attempt number {r.attempt_number}, expected {numbers[r.fallback_hop]}"
        )
    for r in got:
        assert r.total_tokens == r.input_tokens + r.output_tokens, f"total tokens do not add up: {r}"
        if r.status == "skipped":
            assert (r.input_tokens, r.output_tokens, r.cost_usd) == (0, 0, Decimal(0)), f"a skipped attempt priced: {r}"
        if r.status == "error" and r.input_tokens + r.output_tokens == 0:
            assert r.cost_usd == Decimal(0), f"a failed attempt charged for no tokens: {r}"
        if r.status != "success":
            assert r.finish_reason is None, f"a failed attempt with a finish reason: {r}"
        if r.status == "error":
            assert r.error_message, f"a failed attempt without its error message: {r}"
        if r.status != "skipped":
            assert r.streamed == streamed, f"streamed={r.streamed} on an attempt of a call with streamed={streamed}"
    successes = [r for r in got if r.status == "success"]

    # --- who answered -------------------------------------------------------------------------
    if answered is None:
        assert response is None, f"no model should have answered, but {response.provider}/{response.model_id} did"
        assert error is not None, "say which typed error ends a call no model answered"
        assert type(raised) is error, f"expected {error.__name__}, got {type(raised).__name__}: {raised}"
        assert successes == [], f"a success record for a call that failed: {successes}"
        if last_error is not None:
            assert isinstance(raised, AllAttemptsFailedError)
            assert type(raised.last) is last_error, f"last error {type(raised.last).__name__}: {raised.last}"
        attempts = getattr(raised, "attempts", None)
    else:
        assert raised is None, f"{answered} should have answered, got {type(raised).__name__}: {raised}"
        assert response is not None, "no final response"
        assert f"{response.provider}/{response.model_id}" == answered
        assert len(successes) == 1 and successes[-1] is got[-1], "exactly one success record, the last one"
        (record,) = successes
        assert _ref(record) == answered and sent and sent[-1].model == response.model_id
        assert record.call_id == response.call_id
        assert (record.input_tokens, record.output_tokens, record.cached_input_tokens) == (
            response.usage.input,
            response.usage.output,
            response.usage.cached_input,
        )
        assert record.cost_usd == response.cost and record.finish_reason == response.finish_reason
        assert record.streamed == streamed
        assert response.fallback_used == (record.fallback_hop > 0)
        if response.provider != "ollama":  # Ollama sends no request id
            assert response.request_id == record.request_id == sent[-1].request_id
        assert response.finish_reason not in ("content_filter", "refusal"), "a filtered answer passed as an answer"
        attempts = response.attempts
        if content is not None:
            assert response.content == content

    if attempts is not None:  # the attempts the caller sees are the records
        seen = [(a.model_ref, a.status, a.error_class, a.hop, a.attempt_number, a.cause) for a in attempts]
        rec = [(_ref(r), r.status, r.error_class, r.fallback_hop, r.attempt_number, r.fallback_cause) for r in got]
        assert seen == rec, f"attempts {seen} != records {rec}"

    # --- streams: never a truncated answer passed off as complete ------------------------------
    if isinstance(outcome, StreamOutcome):
        if response is not None:
            assert response.content == outcome.received, "the final content is not what the caller received"
            if content is not None:
                assert outcome.received == content
        elif outcome.deltas:
            assert isinstance(raised, StreamInterruptedError), (
                f"tokens were sent, so the stream must end with StreamInterruptedError, got {type(raised).__name__}"
            )
            assert raised.after_first_token
            assert raised.partial_content == outcome.received, (
                f"partial {raised.partial_content!r} != received {outcome.received!r}"
            )
            if partial is not None:
                assert outcome.received and partial.startswith(outcome.received) and outcome.received != partial, (
                    f"{outcome.received!r} is not a strict prefix of {partial!r}"
                )
        elif isinstance(raised, StreamInterruptedError):
            assert not raised.after_first_token, "after_first_token set, but the caller got no token"
    elif partial is not None:
        raise AssertionError("`partial` is for streams")
