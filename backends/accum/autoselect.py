"""`--hw auto`: lower onto the smallest bundled accum preset a graph fits.

Rule. The bundled presets (`hardware.preset_names()`, the files in `presets/`) are ordered by
size, smallest first:
  1. total weight memory, cores * core.weight_sram_bytes (what limits how many weights fit);
  2. then cores;
  3. then the preset name (a fixed order for ties).
The graph is lowered onto each in that order with the caller's lowering (every option it
takes, e.g. rate, encoding, split); the first lowering that does not raise HardwareFitError
(the lowering's own fit checks: weight width, tiling, packing, placement) is the result, so
the chosen program is exactly the one `lower --hw <that preset>` writes. When none fits,
HardwareFitError names the largest preset and why it refused.
"""

from __future__ import annotations

from typing import Any, Callable

from snncompile.backends.accum.hardware import HardwareSpec, preset_names
from snncompile.errors import HardwareFitError


def size_key(name: str, hw: HardwareSpec) -> tuple[int, int, str]:
    """The ordering of the module docstring: (cores * weight SRAM bytes, cores, name)."""
    return (hw.cores * hw.weight_sram_bytes, hw.cores, name)


def presets_by_size() -> list[tuple[str, HardwareSpec]]:
    """Every bundled preset, smallest first (module docstring)."""
    specs = [(name, HardwareSpec.load(name)) for name in preset_names()]
    return sorted(specs, key=lambda item: size_key(*item))


def lower_on_smallest(lower: Callable[[HardwareSpec], Any]) -> tuple[str, HardwareSpec, Any]:
    """(preset name, spec, lower(spec)) for the smallest bundled preset on which `lower` (one
    lowering of the graph onto a HardwareSpec) does not raise HardwareFitError; that error
    when no preset fits (module docstring)."""
    last: tuple[str, HardwareFitError] | None = None
    for name, hw in presets_by_size():
        try:
            return name, hw, lower(hw)
        except HardwareFitError as exc:
            last = (name, exc)
    if last is None:
        raise HardwareFitError("--hw auto: there are no bundled hardware presets")
    raise HardwareFitError(f"--hw auto: no bundled preset fits the model (the largest, "
                           f"{last[0]!r}: {last[1]})")
