"""Memory estimates before large allocations: refuse with one line naming the figure.

`check_memory(nbytes, what)` raises (ConfigError by default) when an allocation of about
`nbytes` would not fit the memory this machine has available:

    sweep.toml: model.config: building the model needs 68.7 GiB, 21.9 GiB available

so a careless size dies with a typed error before an allocator error, a swap storm or the
OOM killer. Available memory is /proc/meminfo's MemAvailable where there is one, else
physical memory (os.sysconf SC_AVPHYS_PAGES, then SC_PHYS_PAGES); when neither is known the
check passes. `SNNCOMPILE_MEMORY_LIMIT` (bytes) overrides the figure (tests, shared hosts).

A leaf module: it imports nothing from snncompile but `snncompile.errors`.
"""

from __future__ import annotations

import os

from snncompile.errors import ConfigError, SnnCompileError

GiB = 1 << 30
ENV_LIMIT = "SNNCOMPILE_MEMORY_LIMIT"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or None when unknown."""
    env = os.environ.get(ENV_LIMIT)
    if env:
        try:
            return max(0, int(env))
        except ValueError:
            raise ConfigError(f"{ENV_LIMIT} must be a number of bytes, got {env!r}") from None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    for name in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            pages, size = os.sysconf(name), os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            continue
        if pages > 0 and size > 0:
            return pages * size
    return None


def gib(nbytes: float) -> str:
    """`nbytes` as '12.3 GiB' (or '4.0 MiB' below a tenth of a GiB)."""
    if nbytes < GiB / 10:
        return f"{nbytes / (1 << 20):,.1f} MiB"
    return f"{nbytes / GiB:,.1f} GiB"


def check_memory(nbytes: int | float, what: str,
                 error: type[SnnCompileError] = ConfigError) -> None:
    """Raise `error` ("{what} needs X GiB, Y GiB available") when `nbytes` exceeds the
    available memory."""
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise error(f"{what} needs {gib(nbytes)}, {gib(avail)} available")
