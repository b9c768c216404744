"""Typed exceptions of the public API.

Every error a user can cause derives from `SnnCompileError`; the CLI prints its message on one
line and exits with code 2. Anything else is a bug and keeps its traceback.
"""


class SnnCompileError(Exception):
    """Base class: bad input, a model that does not fit, a missing optional dependency."""


class ConfigError(SnnCompileError, ValueError):
    """A model, training or experiment configuration is invalid (names the field)."""


class CheckpointError(SnnCompileError):
    """A checkpoint is truncated, foreign or does not match its config (names key or shape)."""


class IRError(SnnCompileError):
    """An IR graph, op or file is invalid (names the node or field)."""


class HardwareSpecError(SnnCompileError):
    """A hardware description file is malformed (names the field)."""


class HardwareFitError(SnnCompileError):
    """A model does not fit the hardware (names the layer and what it would need)."""


class CostTableError(SnnCompileError):
    """An energy cost table is malformed (names the field)."""


class BaselineError(CostTableError):
    """A dense baseline description is malformed (names the field), or two sides that are not
    comparable were to be compared (different technology, memory priced on one side only)."""


class SimulationError(SnnCompileError):
    """A lowered program cannot be simulated (names the op or counter)."""


class MissingDependencyError(SnnCompileError, ImportError):
    """An optional dependency is not installed; the message says what to install."""


class OutputError(SnnCompileError, OSError):
    """An output file or folder cannot be created or published (names the path)."""
