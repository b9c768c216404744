"""The reference backend: the PyTorch interpreter that defines what every IR op means."""

from snncompile.backends.reference.interpreter import (Counters, GenerateResult, NodeCounters,
                                                       ReferenceInterpreter)

__all__ = ["Counters", "GenerateResult", "NodeCounters", "ReferenceInterpreter"]
