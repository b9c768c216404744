"""Checkpoints in the mamba_ssm format (`MambaLMHeadModel.save_pretrained` / `from_pretrained`).

A checkpoint is a folder:
  config.json          `SpikingMambaConfig.to_mamba_ssm_dict()` without its "spiking" section:
                       exactly what mamba_ssm writes, for a dense teacher and a student alike
  pytorch_model.bin    torch.save(state_dict)   (what mamba_ssm reads and writes), or
  model.safetensors    the same tensors in safetensors (preferred on load when both exist)
A student (spiking) adds the sidecar of `snncompile.models.sidecar`:
  spiking.json         the neuron configuration (`SpikingMambaConfig.spiking_section()`)
  spiking.safetensors  the neuron thresholds; the weights file then holds only the dense
                       model's tensors, so `MambaLMHeadModel.from_pretrained(folder)` loads the
                       dense Mamba2 underneath the student (from a .bin: mamba_ssm 2.3.2 reads
                       no safetensors).
The older student layout (config.json with a "spiking" section, thresholds inside the weights
file; `save_checkpoint(..., sidecar=False)`) still loads.

Keys are upstream's: backbone.embedding.weight, backbone.layers.{i}.norm.weight,
backbone.layers.{i}.mixer.{in_proj.weight, conv1d.weight, conv1d.bias, dt_bias, A_log, D,
norm.weight, out_proj.weight}, backbone.norm_f.weight, lm_head.weight; neuron thresholds as
backbone.layers.{i}.mixer.{in_proj,out_proj}_neuron.theta.

Loading never executes code from the folder: torch.load(weights_only=True) or safetensors.
Every problem raises CheckpointError (or ConfigError for config.json contents) naming the file,
key or shape.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from snncompile.atomic import atomic_path
from snncompile.errors import CheckpointError, ConfigError
from snncompile.models.config import SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM
from snncompile.models.sidecar import (SPIKING_JSON, SPIKING_WEIGHTS, has_sidecar,
                                       is_sidecar_key, read_spiking_json, spiking_json)

CONFIG_FILE = "config.json"
BIN_FILE = "pytorch_model.bin"
SAFETENSORS_FILE = "model.safetensors"
FORMATS = ("bin", "safetensors")
_REQUIRED_CONFIG_KEYS = ("d_model", "n_layer", "vocab_size", "ssm_cfg")


def _save_safetensors(state: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file
    # tied weights share storage, which safetensors refuses: store independent copies
    save_file({k: v.contiguous().clone() for k, v in state.items()}, str(path),
              metadata={"format": "pt"})


def save_checkpoint(model: SpikingMambaLM, folder: str | os.PathLike, format: str = "bin",
                    sidecar: bool = True) -> Path:
    """Write `model` to `folder` (replaced as a whole, atomically).

    format: 'bin' (pytorch_model.bin, what mamba_ssm reads) or 'safetensors'.
    sidecar: a student's neuron configuration and thresholds go to spiking.json and
    spiking.safetensors, config.json and the weights file stay mamba_ssm's (module docstring);
    False writes the older single-file layout. A dense model has no sidecar either way."""
    if format not in FORMATS:
        raise ConfigError(f"checkpoint format must be one of {FORMATS}, got {format!r}")
    if not isinstance(model, SpikingMambaLM):
        raise ConfigError(f"save_checkpoint needs a SpikingMambaLM, got {type(model).__name__}")
    folder = Path(folder)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    config = model.config.to_mamba_ssm_dict()
    neurons: dict[str, torch.Tensor] = {}
    if sidecar and model.config.spiking:
        config.pop("spiking")
        neurons = {k: v for k, v in state.items() if is_sidecar_key(k)}
        state = {k: v for k, v in state.items() if not is_sidecar_key(k)}
    with atomic_path(folder, directory=True) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        if format == "bin":
            torch.save(state, tmp / BIN_FILE)
        else:
            _save_safetensors(state, tmp / SAFETENSORS_FILE)
        if sidecar and model.config.spiking:
            _save_safetensors(neurons, tmp / SPIKING_WEIGHTS)
            body = spiking_json(model.config.spiking_section())
            (tmp / SPIKING_JSON).write_text(json.dumps(body, indent=2) + "\n")
    return folder


def _folder(folder: str | os.PathLike) -> Path:
    path = Path(folder)
    if not path.exists():
        raise CheckpointError(f"checkpoint folder {str(path)!r} does not exist")
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is not a folder (expected config.json "
                              f"and {BIN_FILE} or {SAFETENSORS_FILE} inside)")
    return path


def load_config(folder: str | os.PathLike) -> SpikingMambaConfig:
    """Read and validate `folder/config.json`."""
    path = _folder(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path.parent)!r} has no {CONFIG_FILE}")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: unreadable ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a mamba_ssm config (top level is {type(data).__name__})")
    missing = [k for k in _REQUIRED_CONFIG_KEYS if k not in data]
    if missing:
        raise ConfigError(f"{path}: not a mamba_ssm config, missing {missing}")
    if not isinstance(data["ssm_cfg"], dict):
        raise ConfigError(f"{path}: ssm_cfg must be an object")
    if has_sidecar(path.parent):
        if "spiking" in data:
            raise CheckpointError(f"{path.parent}: both config.json and {SPIKING_JSON} carry a "
                                  "spiking section; keep one")
        data = dict(data, spiking=read_spiking_json(path.parent))
    try:
        return SpikingMambaConfig.from_mamba_ssm_dict(data)
    except ConfigError as exc:
        msg = str(exc).removeprefix("config.json: ").removeprefix("config.json:")
        raise ConfigError(f"{path}: {msg}") from None


def _read_bin(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol notices for foreign files
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is long; keep only the name of the refused global, if any
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        why = f"; it references {found.group(1)}" if found else ""
        raise CheckpointError(f"{path}: not a plain tensor state dict (refused by "
                              f"torch.load(weights_only=True){why})") from None
    except Exception as exc:  # torch.load raises many types for damaged files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: truncated or corrupt ({type(exc).__name__}: "
                              f"{first[:200]})") from None


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({exc})") from None


def load_state_dict(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The raw tensors of a checkpoint folder (model.safetensors, else pytorch_model.bin), with a
    student's sidecar thresholds (spiking.safetensors) merged in."""
    path = _folder(folder)
    if (path / SAFETENSORS_FILE).is_file():
        file, state = path / SAFETENSORS_FILE, _read_safetensors(path / SAFETENSORS_FILE)
    elif (path / BIN_FILE).is_file():
        file, state = path / BIN_FILE, _read_bin(path / BIN_FILE)
    else:
        raise CheckpointError(f"checkpoint {str(path)!r} has no weights "
                              f"({BIN_FILE} or {SAFETENSORS_FILE})")
    if not isinstance(state, dict):
        raise CheckpointError(f"{file}: holds a {type(state).__name__}, not a state dict")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{file}: not a state dict of tensors (entry {bad[0]!r})")
    if has_sidecar(path):
        side = path / SPIKING_WEIGHTS
        if not side.is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} has {SPIKING_JSON} but no "
                                  f"{SPIKING_WEIGHTS}")
        neurons = _read_safetensors(side)
        foreign = [k for k in neurons if not is_sidecar_key(k)]
        if foreign:
            raise CheckpointError(f"{side}: key {foreign[0]!r} is not a neuron parameter")
        twice = [k for k in neurons if k in state]
        if twice:
            raise CheckpointError(f"checkpoint {str(path)!r}: key {twice[0]!r} is both in "
                                  f"{file.name} and {SPIKING_WEIGHTS}")
        state = {**state, **neurons}
    return state


def load_checkpoint(folder: str | os.PathLike, dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu") -> SpikingMambaLM:
    """Build a `SpikingMambaLM` from a checkpoint folder; every key and shape is checked.

    A tied checkpoint may omit lm_head.weight (it is the embedding). Tensors are cast to `dtype`.
    """
    config = load_config(folder)
    state = load_state_dict(folder)
    model = SpikingMambaLM(config, init=False)
    expected = model.state_dict()
    tied_head_absent = "lm_head.weight" not in state and "backbone.embedding.weight" in state
    if config.tie_embeddings and tied_head_absent:
        state = dict(state, **{"lm_head.weight": state["backbone.embedding.weight"]})
    missing = [k for k in expected if k not in state]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise CheckpointError(f"checkpoint {str(folder)!r}: missing key {missing[0]!r}"
                              f"{', ' + repr(missing[1:3]) if len(missing) > 1 else ''}{more}")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise CheckpointError(f"checkpoint {str(folder)!r}: unexpected key {unexpected[0]!r}{more} "
                              f"(does config.json match the weights?)")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(f"checkpoint {str(folder)!r}: key {k!r} has shape "
                                  f"{tuple(state[k].shape)}, config.json implies {tuple(v.shape)}")
        if not state[k].is_floating_point():
            raise CheckpointError(f"checkpoint {str(folder)!r}: key {k!r} has dtype "
                                  f"{state[k].dtype}, expected a floating-point tensor")
    if config.tie_embeddings and not torch.equal(state["lm_head.weight"],
                                                 state["backbone.embedding.weight"]):
        raise CheckpointError(f"checkpoint {str(folder)!r}: tie_embeddings is true but "
                              f"lm_head.weight differs from backbone.embedding.weight")
    model.load_state_dict(state, strict=True)
    model.tie_weights()
    return model.to(dtype=dtype, device=device)
