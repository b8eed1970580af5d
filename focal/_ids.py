"""Random ids for calls, runs and records."""

from __future__ import annotations

import random

__all__ = ["new_id"]

_bits = random.getrandbits  # the module's generator: seeded from the OS, re-seeded in a forked child


def new_id() -> str:
    """A new random id: 32 hex characters (128 bits), like `uuid4().hex` without the system call.

    Ids only need to be unique, not secret; Python re-seeds the `random` module in every forked
    child, so worker processes never repeat each other's sequence.
    """
    return f"{_bits(128):032x}"
