"""The reference backend: the PyTorch interpreter that defines what every IR op means."""

from snncompile.backends.reference.interpreter import GenerateResult, ReferenceInterpreter

__all__ = ["GenerateResult", "ReferenceInterpreter"]
