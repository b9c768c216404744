"""The spiking sidecar of a student checkpoint folder (no torch needed to read its JSON).

A student (SpikingMamba) folder is a dense mamba_ssm checkpoint plus two files:
  config.json          what `MambaLMHeadModel.save_pretrained` writes (no "spiking" key), so
                       `MambaLMHeadModel.from_pretrained(folder)` builds the dense model underneath
  pytorch_model.bin    the dense weights only (or model.safetensors; mamba_ssm 2.3.2 reads the
                       .bin), keys exactly those of upstream's state dict
  spiking.json         {"format": FORMAT, "spiking": <SpikingMambaConfig.spiking_section()>,
                        "thresholds": "spiking.safetensors"}
  spiking.safetensors  the neuron thresholds, full keys
                       (backbone.layers.{i}.mixer.{in_proj,out_proj}_neuron.theta)
The older layout (config.json with a "spiking" section, thresholds inside the weights file)
still loads (`snncompile.models.checkpoint.load_checkpoint`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from snncompile.errors import CheckpointError, ConfigError

SPIKING_JSON = "spiking.json"
SPIKING_WEIGHTS = "spiking.safetensors"
FORMAT = "snncompile-spiking/1"


def is_sidecar_key(key: str) -> bool:
    """True for a state-dict key that lives in the sidecar (a neuron's parameters)."""
    return "_neuron." in key


def spiking_json(section: dict[str, Any]) -> dict[str, Any]:
    """The body of `spiking.json` for a config's `spiking_section()`."""
    return {"format": FORMAT, "spiking": section, "thresholds": SPIKING_WEIGHTS}


def has_sidecar(folder: str | os.PathLike) -> bool:
    return (Path(folder) / SPIKING_JSON).is_file()


def read_spiking_json(folder: str | os.PathLike) -> dict[str, Any]:
    """The "spiking" section of `folder/spiking.json` (checked: format, an object)."""
    path = Path(folder) / SPIKING_JSON
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: unreadable ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: format {got!r}, expected {FORMAT!r}")
    section = data.get("spiking")
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: \"spiking\" must be an object")
    if data.get("thresholds", SPIKING_WEIGHTS) != SPIKING_WEIGHTS:
        raise CheckpointError(f"{path}: thresholds file {data.get('thresholds')!r}, expected "
                              f"{SPIKING_WEIGHTS!r}")
    return section
