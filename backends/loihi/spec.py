"""Loihi-2-style per-core limits the Lava lowering tiles against (`LoihiSpec`).

Every number keeps its source (`/work/shared/spec/hardware-and-energy.md`); "[derived]" is
arithmetic on cited numbers, "[assumption]" a choice of ours where nothing is published.

  cores_per_chip     120      Lava maps 120 virtual cores per Loihi 2 chip.
  fan_in_per_core    4096     input axons per core: Loihi (1) limit, Davies et al., IEEE Micro
                              38(1) 2018, Table 2 [assumption: kept for Loihi 2, whose per-core
                              axon count is not published].
  outputs_per_core   8192     compartments per core: 1 M neurons / 128 cores per Loihi 2 chip
                              [derived].
  weight_bytes_per_core 131072  synaptic memory for dense 8-bit weights: 128 KiB of Loihi 2's
                              about 192 KB SRAM per core (press figure) [assumption: the rest
                              holds neuron state, axon and routing tables; Loihi 1 had exactly
                              128 KB of synaptic memory per core].
  message_bits       24       graded spike payload (`num_message_bits=24`, Lava's open models);
                              each block's partial sum leaves its core as one 24-bit message
                              per output, so |partial| <= 2^23 - 1 must hold.
  weight_bits        8        Loihi 2 Dense weights are 8-bit mantissas with an exponent.

A Dense block of r outputs and c inputs fits one virtual core when c <= fan_in_per_core,
r <= outputs_per_core, r*c*weight_bits/8 <= weight_bytes_per_core and the worst-case partial
sum 2^(weight_bits-1) * D * c stays below 2^(message_bits-1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from snncompile.backends.tiling import inputs_within_accumulator
from snncompile.errors import HardwareSpecError


@dataclass(frozen=True)
class LoihiSpec:
    """Per-core and per-chip limits of a Loihi-2-style target (module docstring)."""

    name: str = "loihi2"
    cores_per_chip: int = 120
    fan_in_per_core: int = 4096
    outputs_per_core: int = 8192
    weight_bytes_per_core: int = 131072
    message_bits: int = 24
    weight_bits: int = 8

    def __post_init__(self) -> None:
        for key in ("cores_per_chip", "fan_in_per_core", "outputs_per_core",
                    "weight_bytes_per_core", "message_bits"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise HardwareSpecError(f"loihi.{key} must be a positive integer, got {v!r}")
        if self.weight_bits != 8:
            raise HardwareSpecError(f"loihi.weight_bits must be 8 (Lava Dense weights are 8-bit "
                                    f"mantissas), got {self.weight_bits!r}")
        if self.message_bits > 24:
            raise HardwareSpecError(f"loihi.message_bits must be at most 24 (Lava graded "
                                    f"spikes), got {self.message_bits}")

    def max_partial(self) -> int:
        """Largest magnitude a block's partial sum may take: 2^(message_bits-1) - 1."""
        return (1 << (self.message_bits - 1)) - 1

    def max_fan_in(self, D: int) -> int:
        """Inputs per block allowed by the fan-in and by the partial-sum width at level D."""
        by_width = inputs_within_accumulator(self.message_bits, 1 << (self.weight_bits - 1), D)
        return min(self.fan_in_per_core, by_width)

    @classmethod
    def from_dict(cls, data: Any) -> "LoihiSpec":
        """The spec of `to_dict()`'s form; HardwareSpecError naming a missing, unknown or bad
        field."""
        if not isinstance(data, dict):
            raise HardwareSpecError("loihi spec must be an object of its fields")
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise HardwareSpecError(f"unknown field loihi.{key} (known: {', '.join(names)})")
        for key in names:
            if key not in data:
                raise HardwareSpecError(f"missing field loihi.{key}")
        if not isinstance(data["name"], str) or not data["name"]:
            raise HardwareSpecError(f"loihi.name must be a non-empty string, got "
                                    f"{data['name']!r}")
        if isinstance(data["weight_bits"], bool) or not isinstance(data["weight_bits"], int):
            raise HardwareSpecError(f"loihi.weight_bits must be an integer, got "
                                    f"{data['weight_bits']!r}")
        return cls(**data)

    def to_dict(self) -> dict:
        return {"name": self.name, "cores_per_chip": self.cores_per_chip,
                "fan_in_per_core": self.fan_in_per_core,
                "outputs_per_core": self.outputs_per_core,
                "weight_bytes_per_core": self.weight_bytes_per_core,
                "message_bits": self.message_bits, "weight_bits": self.weight_bits}
