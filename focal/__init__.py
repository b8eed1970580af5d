"""Focal: a multi-tenant alignment engine for conversational agents, built natively on Agno.

As a library Focal leaves the host process alone: importing it or building a `Focal` sets no
environment variable and configures no logging (`Focal.open(..., configure_logging=True)` opts in),
and every Agno object it builds has telemetry off. The `focal` CLI owns its process and does both.
"""

from focal.errors import ConfigError, FocalError, NotFoundError, OverrideExistsError, StorageError, UnknownTaskError
from focal.settings import FocalSettings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Focal",
    "FocalError",
    "FocalSettings",
    "NotFoundError",
    "OverrideExistsError",
    "StorageError",
    "UnknownTaskError",
    "__version__",
]


def __getattr__(name: str) -> object:
    # `focal.Focal` is imported lazily: `import focal` stays light (no Agno, no SDKs).
    if name == "Focal":
        from focal.app import Focal

        return Focal
    raise AttributeError(f"module 'focal' has no attribute {name!r}")
