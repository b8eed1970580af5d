"""`focal config validate|import|export|versions|show`: agents' alignment configurations per tenant."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from focal.alignment import AlignmentConfig, ToolCatalog, load_folder
from focal.alignment.store import AlignmentStore
from focal.cli._common import JSON_OPTION, console, fail, handle_errors, print_json, print_table, settings
from focal.routing.overrides import check_changed_by, check_tenant_id

app = typer.Typer(help="Alignment configurations: rules, scenarios, templates (YAML folders).", no_args_is_help=True)

FOLDER = typer.Argument(..., help="An agent's folder: agent.yaml, rules.yaml, templates.yaml, scenarios/.")


def _catalog() -> ToolCatalog:
    from focal.tools import shipped_catalog  # the CLI is a composition root: it may know the shipped tools

    return shipped_catalog()


@contextmanager
def _store() -> Iterator[AlignmentStore]:
    from focal.app import Focal

    f = Focal.open(settings(), migrate=False)  # the CLI migrates only in `focal db upgrade` (and `demo`)
    try:
        yield AlignmentStore(_catalog(), engine=f.engine)
    finally:
        f.close()


def _who(by: str | None) -> str:
    if by is not None:
        return check_changed_by(by)
    try:
        return getpass.getuser()
    except Exception:
        return "cli"


@app.command("validate")
@handle_errors
def validate_cmd(folder: Path = FOLDER, as_json: bool = JSON_OPTION) -> None:
    """Check a folder without a database: every problem with its file, key and line; exit 1 if any."""
    document, expressions = load_folder(folder, _catalog())
    row = {
        "agent_id": document.agent_id,
        "version": document.version,
        "rules": len(document.rules),
        "templates": len(document.templates),
        "scenarios": len(document.scenarios),
        "expressions": len(expressions),
        "valid": True,
    }
    if as_json:
        print_json([row])
        return
    console.print(
        f"valid: agent {row['agent_id']} version {row['version']} ({row['rules']} rules, "
        f"{row['templates']} templates, {row['scenarios']} scenarios)",
        markup=False,
    )


@app.command("import")
@handle_errors
def import_cmd(
    folder: Path = FOLDER,
    tenant: str = typer.Option(..., "--tenant", "-t"),
    agent: str | None = typer.Option(None, "--agent", "-a", help="Import under this agent id (default: agent.yaml's)."),
    by: str | None = typer.Option(None, "--by", help="Who imports (default: the OS user)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate a folder and publish it for a tenant as a new version (nothing is written if invalid)."""
    check_tenant_id(tenant)
    with _store() as store:
        result = store.import_folder(folder, tenant, agent_id=agent, created_by=_who(by))
    row = {
        "tenant_id": result.tenant_id,
        "agent_id": result.agent_id,
        "version": result.version,
        "previous_version": result.previous_version,
        "created": result.created,
        "generation": result.generation,
    }
    if as_json:
        print_json([row])
        return
    if result.previous_version == result.version:
        what = "already current"
    elif result.created:
        what = "new version, published"
    else:
        what = "a version imported before, published again"
    previous = f" (was {result.previous_version})" if result.previous_version else ""
    console.print(
        f"imported: tenant {tenant} agent {result.agent_id} → {result.version}{previous}: {what}", markup=False
    )


@app.command("export")
@handle_errors
def export_cmd(
    folder: Path = typer.Argument(..., help="A new (or empty) folder to write."),
    tenant: str = typer.Option(..., "--tenant", "-t"),
    agent: str = typer.Option(..., "--agent", "-a"),
    version: str | None = typer.Option(None, "--version", help="A stored version (default: the current one)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a tenant's configuration as a folder (it re-imports to the same version)."""
    check_tenant_id(tenant)
    with _store() as store:
        exported = store.export_folder(tenant, agent, folder, version)
    if as_json:
        print_json([{"tenant_id": tenant, "agent_id": agent, "version": exported, "folder": str(folder)}])
        return
    console.print(f"exported: tenant {tenant} agent {agent} version {exported} → {folder}", markup=False)


@app.command("versions")
@handle_errors
def versions_cmd(
    tenant: str = typer.Option(..., "--tenant", "-t"),
    agent: str = typer.Option(..., "--agent", "-a"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every stored version of a tenant's agent, newest first; `*` marks the one served."""
    check_tenant_id(tenant)
    with _store() as store:
        versions = store.versions(tenant, agent)
    if not versions:
        raise fail(f"tenant {tenant!r} has no configuration for agent {agent!r}")
    rows = [
        {
            "version": v.version,
            "current": v.current,
            "rules": v.rule_count,
            "scenarios": v.scenario_count,
            "created_at": v.created_at,
            "created_by": v.created_by,
            "source": v.source,
        }
        for v in versions
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Configuration versions: tenant {tenant}, agent {agent}",
        ["", "version", "rules", "scenarios", "created", "by", "source"],
        [
            (
                "*" if r["current"] else "",
                r["version"],
                r["rules"],
                r["scenarios"],
                r["created_at"].isoformat(timespec="seconds"),
                r["created_by"],
                r["source"],
            )
            for r in rows
        ],
    )


def _rule_rows(config: AlignmentConfig) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "name": r.name,
            "scope": r.scope.value if r.scope_id is None else f"{r.scope.value}:{r.scope_id}",
            "when": r.when_expression if r.when_expression is not None else r.when,
            "deterministic": r.when_expression is not None,
            "then": r.then,
            "hard": r.hard,
            "check": r.check,
            "priority": r.priority,
            "enabled": r.enabled,
            "tools": [b.tool for b in r.tools],
            "overrides": list(r.overrides),
            "requires": list(r.requires),
        }
        for r in sorted(config.document.rules, key=lambda r: (-r.priority, r.id))
    ]


def _scenario_rows(config: AlignmentConfig) -> list[dict[str, Any]]:
    rows = []
    for scenario in config.document.scenarios:
        for step in scenario.steps:
            rows.append(
                {
                    "scenario": scenario.id,
                    "step": step.id,
                    "entry": step.id == scenario.entry_step,
                    "terminal": step.terminal,
                    "collects": [v.name for v in step.collects],
                    "tools": [b.tool for b in step.tools],
                    "transitions": [
                        {"to": t.to, "when": t.when_expression if t.when_expression is not None else t.when}
                        for t in step.transitions
                    ],
                }
            )
    return rows


@app.command("show")
@handle_errors
def show_cmd(
    tenant: str = typer.Option(..., "--tenant", "-t"),
    agent: str = typer.Option(..., "--agent", "-a"),
    version: str | None = typer.Option(None, "--version", help="A stored version (default: the current one)."),
    rules: bool = typer.Option(False, "--rules", help="Only the rules."),
    scenarios: bool = typer.Option(False, "--scenarios", help="Only the scenarios."),
    as_json: bool = JSON_OPTION,
) -> None:
    """A readable summary of what a tenant's agent obeys."""
    check_tenant_id(tenant)
    with _store() as store:
        config = store.load(tenant, agent, version)
    both = not rules and not scenarios
    rule_rows = _rule_rows(config) if rules or both else []
    scenario_rows = _scenario_rows(config) if scenarios or both else []
    if as_json:
        head = {"tenant_id": tenant, "agent_id": agent, "version": config.version}
        print_json(
            [{**head, "kind": "rule", **r} for r in rule_rows] + [{**head, "kind": "step", **s} for s in scenario_rows]
        )
        return
    profile = config.document.profile
    if both:
        console.print(f"{profile.name} (agent {agent}, tenant {tenant}), version {config.version}", markup=False)
    if rule_rows:
        print_table(
            "Rules (by priority)",
            ["id", "scope", "when", "then", "hard", "prio", "tools", "relations"],
            [
                (
                    r["id"] + ("" if r["enabled"] else " (disabled)"),
                    r["scope"],
                    ("= " if r["deterministic"] else "") + str(r["when"]),
                    r["then"],
                    ("yes: " + r["check"]) if r["hard"] and r["check"] else ("judge" if r["hard"] else ""),
                    r["priority"],
                    ", ".join(r["tools"]),
                    "; ".join(
                        [f"overrides {', '.join(r['overrides'])}"] * bool(r["overrides"])
                        + [f"requires {', '.join(r['requires'])}"] * bool(r["requires"])
                    ),
                )
                for r in rule_rows
            ],
        )
    if scenario_rows:
        print_table(
            "Scenarios",
            ["scenario", "step", "collects", "tools", "next"],
            [
                (
                    s["scenario"],
                    s["step"] + (" (entry)" if s["entry"] else "") + (" (end)" if s["terminal"] else ""),
                    ", ".join(s["collects"]),
                    ", ".join(s["tools"]),
                    "; ".join(f"{t['to']} when {t['when']}" for t in s["transitions"]),
                )
                for s in scenario_rows
            ],
        )
