"""Starting the embedded local model for a CLI command, when the resolved models need it."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console

from focal.app import Focal
from focal.errors import ConfigError
from focal.local import LocalModelMissing, model_path, require_server
from focal.routing import ProviderKind, Resolution

__all__ = ["start_local_model_if_needed"]


async def start_local_model_if_needed(
    focal: Focal, resolutions: Mapping[str, Mapping[str, Resolution]], out: Console
) -> None:
    """Start the embedded model when a step runs on it, saying why (the resolutions' reasons).

    Raises:
        ConfigError: a step resolved to a provider the environment cannot reach (no key) while the local
            model is not available either: both reasons, so a newcomer knows the two ways out.
        LocalModelMissing: the local model is needed but not installed (from `Focal.start_local_model`).
    """
    unreachable = {
        r.model.provider: why
        for by_step in resolutions.values()
        for r in by_step.values()
        if (why := focal.registry.connection(r.model.provider).missing_credentials())
    }
    if unreachable:
        _explain_unreachable(focal, unreachable)
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


def _explain_unreachable(focal: Focal, unreachable: Mapping[str, str]) -> None:
    providers = "; ".join(f"{provider}: {why}" for provider, why in sorted(unreachable.items()))
    try:
        require_server()
        model_path(focal.settings.local_model_path)
    except LocalModelMissing as exc:
        local = f"and the embedded local model is not available ({exc})"
    else:
        local = "(FOCAL_EMBEDDED_DEFAULT=false keeps them off the local model)"
    raise ConfigError(f"some steps cannot reach their model: {providers} {local}")
