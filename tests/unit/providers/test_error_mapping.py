"""What each provider's REAL SDK (through Agno's model classes) raises for each wire fault, and what
`map_error` makes of it.

Every test aims a registry model at a loopback `FakeProviderServer`, runs a minimal Agno `Agent` inside
`observe_call()` (Agno swallows provider errors: the typed exception is only seen by Focal's model
mixin), and checks the Focal error, that exactly one HTTP request was made (SDK retries are off), and
what the observation recorded (finish reason, request id, whether the stream ended with its marker).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from agno.agent import Agent
from agno.models.message import Message
from agno.run.base import RunStatus

from focal.execution.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceeded,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailable,
    RateLimitError,
    StreamInterruptedError,
)
from focal.providers import CallObservation, CallParams, _errors, _local, build_model, map_error, observe_call
from focal.routing import ModelInfo, ModelRegistry
from focal.routing.tasks import Tier
from tests.fakes.provider_server import FakeProviderServer, Reply, close_clients

TIMEOUT = 0.25  # the SDK timeout for every call here: timeouts and stalls cost this long
REFS = {"openai": "openai:cheap", "anthropic": "anthropic:cheap", "ollama": "ollama:cheap"}
PROVIDERS = list(REFS)
MODES = ["plain", "stream"]


@dataclass
class Outcome:
    obs: CallObservation
    status: Any
    content: str
    requests: int
    error: ProviderError | None = None
    events: list[str] = field(default_factory=list)


_BUILT: list[Any] = []


def build(info: ModelInfo, registry: ModelRegistry) -> Any:
    """The registry model's Agno model, closed after the test."""
    model = build_model(info, registry, CallParams(timeout_seconds=TIMEOUT))
    _BUILT.append(model)
    return model


@pytest.fixture(autouse=True)
async def _close_sdk_clients() -> AsyncIterator[None]:
    yield
    await close_clients(*_BUILT)
    _BUILT.clear()


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeProviderServer]:
    async with FakeProviderServer() as fake:
        for name, value in fake.focal_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        yield fake
    assert fake.errors == []


async def call(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, mode: str, *behaviours: Reply
) -> Outcome:
    """One Agent run against `provider`'s cheap model; the typed error mapped from what the model raised."""
    info = registry.parse_ref(REFS[provider])
    model = build(info, registry)
    return await run_agent(server, model, info, registry, mode, *behaviours)


async def run_agent(
    server: FakeProviderServer, model: Any, info: ModelInfo, registry: ModelRegistry, mode: str, *behaviours: Reply
) -> Outcome:
    server.script(*behaviours)
    before = len(server.requests)
    agent = Agent(model=model, telemetry=False)
    events: list[str] = []
    parts: list[str] = []
    status = None
    with observe_call() as obs:
        if mode == "stream":
            async for event in agent.arun("Say something.", stream=True, yield_run_output=True):
                name = type(event).__name__
                events.append(name)
                if name == "RunContentEvent" and isinstance(event.content, str):
                    parts.append(event.content)
                elif name == "RunOutput":
                    status = event.status
                elif name == "RunErrorEvent":
                    status = RunStatus.error
        else:
            out = await agent.arun("Say something.")
            status = out.status
            parts.append(out.content if isinstance(out.content, str) else "")
    error = map_error(obs.errors[-1], info, registry, obs) if obs.errors else None
    return Outcome(obs, status, "".join(parts), len(server.requests) - before, error, events)


def expect(outcome: Outcome, kind: type[ProviderError], status_code: int | None, provider: str) -> ProviderError:
    assert outcome.status == RunStatus.error, outcome
    assert outcome.requests == 1, "SDK retries must be off: one HTTP request per call"
    assert len(outcome.obs.errors) == 1
    err = outcome.error
    assert type(err) is kind, f"{type(err).__name__}: {err}"
    assert err.status_code == status_code
    assert err.provider == provider and err.model == outcome_model(provider)
    return err


def outcome_model(provider: str) -> str:
    return {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "ollama": "llama3.2:3b"}[provider]


# --- HTTP errors: same for every provider and for plain and streamed calls ----------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_is_a_rate_limit_with_retry_after(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, mode: str
) -> None:
    outcome = await call(server, registry, provider, mode, Reply.rate_limited(retry_after="2"))
    err = expect(outcome, RateLimitError, 429, provider)
    assert err.retry_after == 2.0 and err.retryable
    if provider != "ollama":  # Ollama sends no request id
        assert err.request_id == "req_1"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_retry_after_ms_wins_and_http_dates_are_read(
    server: FakeProviderServer, registry: ModelRegistry, provider: str
) -> None:
    outcome = await call(server, registry, provider, "plain", Reply.rate_limited(None, retry_after_ms="1500"))
    assert expect(outcome, RateLimitError, 429, provider).retry_after == 1.5  # type: ignore[attr-defined]
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    outcome = await call(server, registry, provider, "plain", Reply.rate_limited(date))
    assert 25 < expect(outcome, RateLimitError, 429, provider).retry_after <= 30  # type: ignore[attr-defined,operator]


async def test_429_out_of_quota_is_not_retried(server: FakeProviderServer, registry: ModelRegistry) -> None:
    outcome = await call(server, registry, "openai", "plain", Reply.error(429, code="insufficient_quota"))
    err = expect(outcome, RateLimitError, 429, "openai")
    assert not err.retryable


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_context_window_exceeded(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, mode: str
) -> None:
    # OpenAI: code context_length_exceeded; Anthropic: "prompt is too long"; Ollama: its message
    outcome = await call(server, registry, provider, mode, Reply.context_window_exceeded())
    err = expect(outcome, ContextWindowExceeded, 400, provider)
    assert not err.retryable


STATUSES: list[tuple[int, type[ProviderError]]] = [
    (401, AuthenticationError),
    (403, AuthenticationError),
    (400, BadRequestError),
    (404, BadRequestError),
    (422, BadRequestError),
    (408, ProviderTimeoutError),
    (409, ProviderUnavailable),
    (500, ProviderUnavailable),
    (502, ProviderUnavailable),
    (503, ProviderUnavailable),
    (529, RateLimitError),
]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_status_codes(server: FakeProviderServer, registry: ModelRegistry, provider: str) -> None:
    info = registry.parse_ref(REFS[provider])
    model = build(info, registry)
    for status, kind in STATUSES:
        behaviour = Reply.error(status, message=f"scripted {status}")
        err = expect(await run_agent(server, model, info, registry, "plain", behaviour), kind, status, provider)
        assert f"scripted {status}" in err.message
        assert err.retryable == (kind in (ProviderTimeoutError, ProviderUnavailable, RateLimitError)), status


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_status_errors_on_streams(server: FakeProviderServer, registry: ModelRegistry, provider: str) -> None:
    expect(await call(server, registry, provider, "stream", Reply.error(401)), AuthenticationError, 401, provider)
    expect(await call(server, registry, provider, "stream", Reply.error(503)), ProviderUnavailable, 503, provider)


async def test_anthropic_overloaded(server: FakeProviderServer, registry: ModelRegistry) -> None:
    outcome = await call(server, registry, "anthropic", "stream", Reply.overloaded())
    assert "overloaded" in str(outcome.obs.errors[-1].__cause__).lower()
    expect(outcome, RateLimitError, 529, "anthropic")


# --- transport faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_reset_before_any_answer(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, mode: str
) -> None:
    err = expect(await call(server, registry, provider, mode, Reply.reset()), ProviderUnavailable, None, provider)
    assert err.retryable


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_answer_within_the_timeout(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, mode: str
) -> None:
    started = time.perf_counter()
    outcome = await call(server, registry, provider, mode, Reply.hang(5.0))
    assert time.perf_counter() - started < TIMEOUT + 1.0
    assert expect(outcome, ProviderTimeoutError, None, provider).retryable


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_refused(monkeypatch: pytest.MonkeyPatch, registry: ModelRegistry, provider: str) -> None:
    async with FakeProviderServer() as closed:
        env = closed.focal_env()
    for name, value in env.items():  # nothing listens there any more
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    info = registry.parse_ref(REFS[provider])
    model = build(info, registry)
    with observe_call() as obs:
        out = await Agent(model=model, telemetry=False).arun("hi")
    assert out.status == RunStatus.error
    err = map_error(obs.errors[-1], info, registry, obs)
    assert type(err) is ProviderUnavailable and err.status_code is None and err.retryable


@pytest.mark.parametrize(("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
async def test_missing_api_key_is_an_authentication_error(
    server: FakeProviderServer, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch, provider: str, variable: str
) -> None:
    # OpenAI: Agno's ModelAuthenticationError; Anthropic: refused by Focal before the SDK is asked
    monkeypatch.delenv(variable)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    outcome = await call(server, registry, provider, "plain")
    assert outcome.requests == 0  # refused before sending anything
    assert type(outcome.error) is AuthenticationError and not outcome.error.retryable


# --- streams ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_complete_stream_is_terminated(
    server: FakeProviderServer, registry: ModelRegistry, provider: str
) -> None:
    outcome = await call(server, registry, provider, "stream", Reply.ok("A whole answer, in pieces."))
    assert outcome.status == RunStatus.completed and outcome.requests == 1
    assert outcome.content == "A whole answer, in pieces."
    assert outcome.obs.stream_started and outcome.obs.stream_terminated
    assert outcome.obs.finish_reason == ("end_turn" if provider == "anthropic" else "stop")
    assert outcome.obs.request_id == (None if provider == "ollama" else "req_1")  # from the response headers
    assert not outcome.obs.errors


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_answer_reports_finish_reason_and_request_id(
    server: FakeProviderServer, registry: ModelRegistry, provider: str
) -> None:
    outcome = await call(server, registry, provider, "plain", Reply.ok("Fine."))
    assert outcome.status == RunStatus.completed and outcome.content == "Fine." and outcome.requests == 1
    assert outcome.obs.finish_reason == ("end_turn" if provider == "anthropic" else "stop")
    assert outcome.obs.request_id == (None if provider == "ollama" else "req_1")
    assert outcome.obs.model_calls == 1 and not outcome.obs.stream_started


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_missing_terminator_ends_quietly_but_is_not_terminated(
    server: FakeProviderServer, registry: ModelRegistry, provider: str
) -> None:
    # The SDKs end the iteration without an error: only the observation tells the answer is unfinished.
    outcome = await call(server, registry, provider, "stream", Reply.no_terminator("Never finished."))
    assert outcome.status == RunStatus.completed and outcome.content == "Never finished."
    assert not outcome.obs.errors and outcome.requests == 1
    assert outcome.obs.stream_started and not outcome.obs.stream_terminated
    assert outcome.obs.finish_reason is None


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_stream_ended_after_the_finish_event_is_not_terminated(
    server: FakeProviderServer, registry: ModelRegistry, provider: str
) -> None:
    # The whole answer and its finish reason arrived, then the body ended cleanly without the stream's end
    # marker (OpenAI: the usage chunk and [DONE]; Anthropic: message_stop). The SDKs end quietly, Agno
    # reports a completed run with no usage: only the observation tells the stream was cut.
    outcome = await call(server, registry, provider, "stream", Reply.cut_after_finish("All of it."))
    assert outcome.status == RunStatus.completed and outcome.content == "All of it."
    assert not outcome.obs.errors and outcome.requests == 1
    assert outcome.obs.finish_reason == ("end_turn" if provider == "anthropic" else "stop")
    assert outcome.obs.stream_started and not outcome.obs.stream_terminated


@pytest.mark.parametrize("close", ["fin", "rst"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_dropped_after_the_finish_event(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, close: str
) -> None:
    # Ollama's done line is its end marker too: it is terminated, but the body is still broken
    outcome = await call(server, registry, provider, "stream", Reply.cut_after_finish("All of it.", close=close))
    err = expect(outcome, StreamInterruptedError, None, provider)
    assert "dropped mid-stream" in err.message and outcome.content == "All of it."
    assert outcome.obs.stream_terminated == (provider == "ollama")


async def test_openai_stream_ends_with_its_usage_chunk(server: FakeProviderServer, registry: ModelRegistry) -> None:
    outcome = await call(server, registry, "openai", "stream", Reply.ok("Counted.", usage=(42, 7, 0)))
    assert outcome.status == RunStatus.completed and outcome.obs.stream_terminated
    assert server.requests[-1].json["stream_options"] == {"include_usage": True}  # what makes the chunk come


@pytest.mark.parametrize("rst", [True, False], ids=["rst", "fin"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_cut_mid_answer(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, rst: bool
) -> None:
    outcome = await call(server, registry, provider, "stream", Reply.cut(after_chunks=2, rst=rst))
    err = expect(outcome, StreamInterruptedError, None, provider)
    assert "dropped mid-stream" in err.message
    assert outcome.content, "the chunks before the cut were delivered"
    assert not outcome.obs.stream_terminated


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_answer_cut_mid_body(server: FakeProviderServer, registry: ModelRegistry, provider: str) -> None:
    expect(await call(server, registry, provider, "plain", Reply.cut()), ProviderUnavailable, None, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stalled_stream(server: FakeProviderServer, registry: ModelRegistry, provider: str) -> None:
    outcome = await call(server, registry, provider, "stream", Reply.stall(after_chunks=2, seconds=5.0))
    err = expect(outcome, StreamInterruptedError, None, provider)
    assert "stalled" in err.message and outcome.content
    assert not outcome.obs.stream_terminated


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_slow_first_token(server: FakeProviderServer, registry: ModelRegistry, provider: str) -> None:
    # within the read timeout: a normal answer; past it, the stream (headers already sent) stalled
    ok = await call(server, registry, provider, "stream", Reply.slow_first_token(TIMEOUT / 3, "Late but whole."))
    assert ok.status == RunStatus.completed and ok.content == "Late but whole." and ok.obs.stream_terminated
    late = await call(server, registry, provider, "stream", Reply.slow_first_token(5.0))
    expect(late, StreamInterruptedError, None, provider)
    assert late.content == "" and late.obs.chunks == 0
    plain = await call(server, registry, provider, "plain", Reply.slow_first_token(5.0))
    expect(plain, ProviderTimeoutError, None, provider)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_chunk(server: FakeProviderServer, registry: ModelRegistry, provider: str, mode: str) -> None:
    outcome = await call(server, registry, provider, mode, Reply.malformed(after_chunks=2))
    if mode == "stream":
        err = expect(outcome, StreamInterruptedError, None, provider)
        assert "malformed chunk" in err.message and not outcome.obs.stream_terminated
    else:
        assert "malformed response" in expect(outcome, ProviderUnavailable, None, provider).message


@pytest.mark.parametrize(
    ("provider", "kind"),
    [("openai", RateLimitError), ("anthropic", RateLimitError), ("ollama", ProviderUnavailable)],
)
async def test_error_event_inside_a_stream(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, kind: type[ProviderError]
) -> None:
    # OpenAI `data: {"error": {... "code": "overloaded_error"}}`, Anthropic `event: error` (the SDK raises
    # an APIStatusError carrying the 200 response), Ollama `{"error": "..."}` (ResponseError, status -1)
    outcome = await call(server, registry, provider, "stream", Reply.error_event(after_chunks=2))
    expect(outcome, kind, None, provider)
    assert not outcome.obs.stream_terminated


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("provider", "reason"), [("openai", "content_filter"), ("anthropic", "refusal")])
async def test_content_filter_is_a_finish_reason(
    server: FakeProviderServer, registry: ModelRegistry, provider: str, reason: str, mode: str
) -> None:
    # not an exception: the adapter turns the finish reason into ContentFiltered
    outcome = await call(server, registry, provider, mode, Reply.content_filter())
    assert outcome.status == RunStatus.completed and not outcome.obs.errors
    assert outcome.obs.finish_reason == reason
    assert outcome.obs.stream_terminated == (mode == "stream")


# --- llama.cpp (OpenAI protocol through LlamaCpp) ----------------------------------------------


LOCAL = ModelInfo(
    id="local-test-model",
    provider="local",
    tier=Tier.CHEAP,
    input_cost_per_million=Decimal(0),
    output_cost_per_million=Decimal(0),
    context_window=8192,
    max_output_tokens=1024,
)


@pytest.mark.parametrize(
    ("behaviour", "mode", "kind", "status"),
    [
        (Reply.error(503), "plain", ProviderUnavailable, 503),
        (Reply.context_window_exceeded(), "plain", ContextWindowExceeded, 400),
        (Reply.cut(), "stream", StreamInterruptedError, None),
    ],
    ids=["503", "context", "cut"],
)
async def test_local_llama_cpp_uses_the_openai_mapping(
    server: FakeProviderServer,
    registry: ModelRegistry,
    behaviour: Reply,
    mode: str,
    kind: type[ProviderError],
    status: int | None,
) -> None:
    model = _local.build(LOCAL, registry.connection("local"), CallParams(timeout_seconds=TIMEOUT))
    _BUILT.append(model)
    outcome = await run_agent(server, model, LOCAL, registry, mode, behaviour)
    assert server.requests[-1].path == "/v1/chat/completions" and server.requests[-1].model == LOCAL.id
    err = _local.map_error(
        outcome.obs.errors[-1], LOCAL, mid_stream=outcome.obs.failed_mid_stream(outcome.obs.errors[-1])
    )
    assert type(err) is kind and err.status_code == status and err.provider == "local"
    ok = await run_agent(server, model, LOCAL, registry, "stream", Reply.ok("local answer"))
    assert ok.content == "local answer" and ok.obs.stream_terminated and ok.obs.finish_reason == "stop"


async def test_local_llama_cpp_stream_still_ends_at_its_finish_chunk(
    server: FakeProviderServer, registry: ModelRegistry
) -> None:
    # Unlike OpenAI, the local server is not known to send the usage chunk: its finish chunk ends the stream
    model = _local.build(LOCAL, registry.connection("local"), CallParams(timeout_seconds=TIMEOUT))
    _BUILT.append(model)
    outcome = await run_agent(server, model, LOCAL, registry, "stream", Reply.cut_after_finish("local answer"))
    assert outcome.content == "local answer" and outcome.obs.stream_terminated
    assert outcome.obs.finish_reason == "stop" and not outcome.obs.errors


# --- direct model calls (no Agent) --------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_direct_ainvoke_and_ainvoke_stream(
    server: FakeProviderServer, registry: ModelRegistry, provider: str
) -> None:
    info = registry.parse_ref(REFS[provider])
    model = build(info, registry)
    server.script(Reply.rate_limited("7"), Reply.no_terminator("half"))
    with observe_call() as obs:
        with pytest.raises(Exception) as raised:
            await model.ainvoke([Message(role="user", content="hi")], Message(role="assistant"))
        assert raised.value is obs.errors[-1]
        err = map_error(raised.value, info, registry, obs)
        assert type(err) is RateLimitError and err.retry_after == 7.0  # type: ignore[attr-defined]
        pieces = [
            r.content
            async for r in model.ainvoke_stream([Message(role="user", content="hi")], Message(role="assistant"))
            if r.content
        ]
    assert "".join(pieces) == "half" and obs.stream_started and not obs.stream_terminated
    assert len(server.requests) == 2


# --- the mapping itself, without a server -------------------------------------------------------


MODEL = ModelInfo(
    id="m",
    provider="openai",
    tier=Tier.CHEAP,
    input_cost_per_million=Decimal(1),
    output_cost_per_million=Decimal(1),
    context_window=1000,
    max_output_tokens=100,
)


def test_a_focal_error_passes_through() -> None:
    original = RateLimitError("slow down", provider="openai", model="m", retry_after=3.0)
    wrapper = RuntimeError("wrapped")
    wrapper.__cause__ = original
    assert _errors.classify(original, MODEL) is original
    assert _errors.classify(wrapper, MODEL) is original


def test_an_unrelated_error_being_handled_is_not_taken_for_the_cause() -> None:
    stale = ProviderUnavailable("an earlier attempt", provider="openai", model="m")
    fresh = ValueError("something else")
    fresh.__context__ = stale  # raised while handling `stale`, not caused by it
    err = _errors.classify(fresh, MODEL)
    assert type(err) is ProviderError and err is not stale


def test_agno_raise_from_itself_does_not_hide_the_sdk_error() -> None:
    from agno.exceptions import ModelProviderError

    class Response:
        status_code = 401
        headers = {"x-request-id": "req_x"}

    class SdkError(Exception):
        response = Response()

    err = ModelProviderError("bad key", status_code=401)
    try:
        try:
            raise SdkError("401")
        except SdkError as sdk:
            raise err from sdk
    except ModelProviderError as e:
        e.__cause__ = e  # what Agno's `_ainvoke_with_retry` does: `raise last_exception from e`
    mapped = _errors.classify(err, MODEL)
    assert type(mapped) is AuthenticationError and mapped.status_code == 401 and mapped.request_id == "req_x"


def test_retry_after_parsing() -> None:
    class Response:
        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers
            self.status_code = 429

    def with_headers(headers: dict[str, str]) -> Exception:
        exc = Exception("429")
        exc.response = Response(headers)  # type: ignore[attr-defined]
        return exc

    assert _errors.retry_after(with_headers({"retry-after": "2"})) == 2.0
    assert _errors.retry_after(with_headers({"retry-after": "-4"})) == 0.0
    assert _errors.retry_after(with_headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert _errors.retry_after(with_headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert _errors.retry_after(with_headers({"retry-after": "soon"})) is None
    assert _errors.retry_after(with_headers({})) is None
    assert _errors.retry_after(Exception("no response")) is None


def test_builtin_errors_without_an_sdk() -> None:
    assert type(_errors.classify(ConnectionRefusedError(111, "refused"), MODEL)) is ProviderUnavailable
    assert type(_errors.classify(TimeoutError(), MODEL)) is ProviderTimeoutError
    assert type(_errors.classify(KeyError("x"), MODEL)) is ProviderError
