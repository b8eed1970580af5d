"""Each private detail of another library that Focal relies on (`focal/providers/_agno_private.py`) is
checked against the installed version here, with a message naming the library and its version; and no
other Focal module reaches into another library's internals."""

from __future__ import annotations

import ast
import inspect
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

import pytest
from agno.agent import Agent
from agno.models.base import Model

from focal.providers import CallParams, build_model, observe_call
from focal.providers._agno_private import RAW_RESPONSE_HOOKS
from focal.providers._anthropic import FocalClaude
from focal.providers._local import FocalLlamaCpp
from focal.providers._ollama import FocalOllama
from focal.providers._openai import FocalOpenAIChat
from focal.routing import ModelRegistry
from tests.fakes.provider_server import FakeProviderServer, Reply

ROOT = Path(__file__).resolve().parents[3]
AGNO = f"agno=={version('agno')}"
FOCAL_MODELS = [FocalOpenAIChat, FocalClaude, FocalOllama, FocalLlamaCpp]


@pytest.mark.parametrize("hook", RAW_RESPONSE_HOOKS)
@pytest.mark.parametrize("focal_model", FOCAL_MODELS, ids=lambda c: c.__name__)
def test_item_1_agno_models_still_parse_raw_answers_in_the_private_hooks(focal_model: type, hook: str) -> None:
    agno_class = next(base for base in focal_model.__mro__ if base.__module__.startswith("agno."))
    method = getattr(agno_class, hook, None)
    assert callable(method), (
        f"{AGNO}: {agno_class.__name__}.{hook} is gone; Focal reads finish reasons and stream end markers "
        "through it (focal/providers/_agno_private.py, item 1)"
    )
    assert not getattr(method, "__isabstractmethod__", False), (
        f"{AGNO}: {agno_class.__name__}.{hook} is abstract, the class no longer parses its answers there"
    )
    assert hook in vars(Model), f"{AGNO}: Model.{hook} is no longer part of Agno's model interface"
    params = list(inspect.signature(method).parameters.values())[1:]
    assert params and params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (
        f"{AGNO}: {agno_class.__name__}.{hook} no longer takes the raw answer as its first argument"
    )


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeProviderServer]:
    async with FakeProviderServer() as fake:
        for name, value in fake.focal_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        yield fake


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("ref", ["openai:cheap", "anthropic:cheap", "ollama:cheap"])
async def test_item_1_the_hooks_see_every_raw_answer(
    server: FakeProviderServer, registry: ModelRegistry, ref: str, stream: bool
) -> None:
    info = registry.parse_ref(ref)
    model = build_model(info, registry, CallParams(timeout_seconds=2.0))
    server.script(Reply.ok("Seen."))
    try:
        with observe_call() as obs:
            if stream:
                async for _ in Agent(model=model, telemetry=False).arun("hi", stream=True):
                    pass
            else:
                await Agent(model=model, telemetry=False).arun("hi")
    finally:
        from focal.providers import aclose_model

        await aclose_model(model)
    seen = obs.chunks if stream else obs.model_calls
    assert seen and obs.finish_reason, (
        f"{AGNO} with {info.provider}: the raw {'chunks' if stream else 'response'} never reached "
        f"{RAW_RESPONSE_HOOKS[int(stream)]} (focal/providers/_agno_private.py, item 1)"
    )


# --- nothing else reaches into another library ----------------------------------------------------

FORBIDDEN_NAMES = {
    "tb_frame": "reads traceback frames",
    "f_code": "reads traceback frames",
    "f_globals": "reads traceback frames",
    "tb_next": "reads traceback frames",
    "event_hooks": "writes an SDK client's HTTP hooks (build the client with them instead)",
    "__module__": "matches classes by module name (use isinstance)",
}
FORBIDDEN_IMPORTS = ("typer._click", "agno.agent._storage", "agno.agent._run", "httpx._", "httpx2._")


def _sources() -> list[Path]:
    roots = ["focal", "workflows", "agents", "tools"]
    return [p for root in roots if (ROOT / root).is_dir() for p in (ROOT / root).rglob("*.py")]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_leans_on_other_libraries_internals(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES:
            pytest.fail(f"{rel}:{node.lineno} {FORBIDDEN_NAMES[node.attr]}")
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "object.__new__":
            pytest.fail(f"{rel}:{node.lineno} builds an object around its constructor")
        if isinstance(node, ast.Compare) and "__name__" in ast.unparse(node.left):
            pytest.fail(f"{rel}:{node.lineno} dispatches on a class name (use isinstance)")
        if isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for name in names:
                assert not name.startswith(FORBIDDEN_IMPORTS), f"{rel}:{node.lineno} imports private {name}"
        if (
            isinstance(node, ast.Assign)
            and any(ast.unparse(t).startswith(("os.environ[", "os.environ.")) for t in node.targets)
            and not rel.startswith("focal/cli/")
        ):
            pytest.fail(f"{rel}:{node.lineno} writes the host's environment")
