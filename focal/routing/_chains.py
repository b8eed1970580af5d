"""Fallback chains: resolve references and reject cycles (shared by catalogs and overrides)."""

from __future__ import annotations

from collections.abc import Sequence

from focal.errors import ConfigError, NotFoundError
from focal.routing.registry import ModelInfo, ModelRegistry


def resolve_chain(
    registry: ModelRegistry, primary: ModelInfo | None, refs: Sequence[str]
) -> tuple[list[ModelInfo], list[tuple[int, str]]]:
    """Resolve a fallback chain.

    Returns:
        (the models, problems as (index, message)); an entry that is unknown, or that repeats the
        primary or an earlier entry (a cycle), is reported and left out.
    """
    models: list[ModelInfo] = []
    problems: list[tuple[int, str]] = []
    seen = {primary.ref} if primary is not None else set()
    for i, ref in enumerate(refs):
        try:
            info = registry.parse_ref(ref)
        except ConfigError as exc:
            problems.append((i, exc.detail))
            continue
        except NotFoundError as exc:
            problems.append((i, str(exc)))
            continue
        if info.ref in seen:
            what = "the primary model" if primary is not None and info.ref == primary.ref else "an earlier entry"
            problems.append((i, f"fallback cycle: {ref!r} resolves to {info.ref}, {what}"))
            continue
        seen.add(info.ref)
        models.append(info)
    return models, problems
