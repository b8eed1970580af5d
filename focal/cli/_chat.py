"""`focal chat`: talk to an agent of a tenant through the alignment workflow, one turn per line.

`/why` explains the last turn (its audit record), `/models` shows the model of each step and why,
`/reset` starts a new conversation, `/quit` (or Ctrl-D, or Ctrl-C) leaves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import typer
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from focal.alignment import TurnResult
from focal.app import Focal
from focal.cli._audit import explain_turn
from focal.cli._common import (
    console,
    conversation_settings,
    handle_errors,
    interruptible,
    print_table,
    quiet_logs_for_conversation,
)
from focal.cli._local import start_local_model_if_needed
from focal.cli._turn_view import turn_panel
from focal.errors import FocalError

HELP = "/why explains the last turn · /models the model of each step · /reset a new conversation · /quit leaves"


def _new_conversation() -> str:
    return f"chat-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


@handle_errors
def chat(
    tenant: str = typer.Option(..., "--tenant", "-t", help="The tenant (the host vouches for it)."),
    agent: str = typer.Option(..., "--agent", "-a", help="The agent, as imported with `focal config import`."),
    conversation: str | None = typer.Option(
        None, "--conversation", "-c", help="Continue this conversation (default: a new one)."
    ),
    user: str | None = typer.Option(None, "--user", "-u", help="The customer the tools act for (a host's user id)."),
) -> None:
    """Chat with an agent through the alignment workflow (the local model when no provider key is set)."""
    quiet_logs_for_conversation()
    with asyncio.Runner() as runner:  # one loop for the whole chat; Ctrl-C inside a turn cancels it
        with console.status("opening the database…"):
            focal = runner.run(Focal.create(conversation_settings()))
        try:
            runner.run(_check_agent(focal, tenant, agent))
            resolutions = {tenant: {r.step.value: r for r in focal.resolver.resolve_all(tenant, agent)}}
            runner.run(start_local_model_if_needed(focal, resolutions, console))
            _loop(runner, focal, tenant, agent, conversation or _new_conversation(), user)
        finally:
            runner.run(focal.aclose())


async def _check_agent(focal: Focal, tenant: str, agent: str) -> None:
    """Fail before the first message when the tenant has no published config for the agent."""
    await focal.alignment.aload(tenant, agent)


def _loop(runner: asyncio.Runner, focal: Focal, tenant: str, agent: str, conversation: str, user: str | None) -> None:
    console.print(f"chat with {agent} of {tenant}, conversation {conversation}. {HELP}", markup=False)
    last: TurnResult | None = None
    while True:
        try:
            line = console.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print("\nbye")
            return
        if not line:
            continue
        if line.startswith("/"):
            command = line.split()[0].lower()
            if command in ("/quit", "/exit"):
                console.print("bye")
                return
            if command == "/reset":
                conversation, last = _new_conversation(), None
                console.print(f"new conversation {conversation}", markup=False)
            elif command == "/why":
                _why(runner, focal, tenant, agent, conversation, last)
            elif command == "/models":
                _models(focal, tenant, agent)
            else:
                console.print(f"unknown command {escape(command)}. {HELP}")
            continue
        try:
            with console.status("running the turn (extraction, rules, tools, reply, enforcement)…"):
                last = runner.run(interruptible(focal.turn(tenant, agent, conversation, line, user_id=user)))
        except KeyboardInterrupt:
            console.print("\nturn cancelled; bye")
            return
        except (FocalError, SQLAlchemyError) as exc:  # the turn failed as a whole (nothing recorded): say so
            console.print(
                f"[red]turn failed:[/] {escape(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))}"
            )
            continue
        resolutions = {r.step.value: r for r in focal.resolver.resolve_all(tenant, agent)}
        console.print(turn_panel(f"turn {last.turn_number}", line, last, resolutions))


def _why(
    runner: asyncio.Runner, focal: Focal, tenant: str, agent: str, conversation: str, last: TurnResult | None
) -> None:
    if last is None:
        console.print("no turn yet in this conversation")
        return
    session = focal.session_id(tenant, agent, conversation)
    (record,) = runner.run(focal.turns.aget(tenant, session, last.turn_number))
    for text in explain_turn(record):
        console.print(text, markup=False, soft_wrap=True)


def _models(focal: Focal, tenant: str, agent: str) -> None:
    rows = focal.resolver.resolve_all(tenant, agent)
    print_table(
        f"models of {tenant} / {agent}",
        ["step", "model", "source", "why"],
        [(r.step.value, r.model.ref, r.source.value, r.reason) for r in rows],
    )


def register(app: typer.Typer) -> None:
    """Add `chat` to the root app."""
    app.command("chat")(chat)
