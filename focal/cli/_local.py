"""Starting the embedded local model for a CLI command, when the resolved models need it."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console

from focal.app import Focal
from focal.routing import ProviderKind, Resolution

__all__ = ["start_local_model_if_needed"]


async def start_local_model_if_needed(
    focal: Focal, resolutions: Mapping[str, Mapping[str, Resolution]], out: Console
) -> None:
    """Start the embedded model when a step runs on it, saying why (the resolutions' reasons)."""
    local = [
        r
        for by_step in resolutions.values()
        for r in by_step.values()
        if focal.registry.connection(r.model.provider).kind is ProviderKind.LOCAL
    ]
    if not local:
        providers = sorted({r.model.provider for by_step in resolutions.values() for r in by_step.values()})
        out.print(f"models on {', '.join(providers)}; no step runs on the local model", markup=False)
        return
    out.print(
        f"{len(local)} of {sum(map(len, resolutions.values()))} steps run on the local model: {local[0].reason}",
        markup=False,
    )
    with out.status("starting the local model server (llama.cpp)…") as status:
        base_url = await focal.start_local_model(progress=lambda line: status.update(line))
    out.print(f"local model server ready at {base_url}", markup=False)
