"""snncompile: compile spiking language models for neuromorphic hardware and price them.

Pipeline: checkpoint -> models -> export (IR, ONNX) -> passes -> backends.<target>.lower
-> simulator.run -> energy.price. See README.md.
"""

__version__ = "0.1.0"
