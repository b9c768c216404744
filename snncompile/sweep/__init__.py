"""Hardware-mapping experiments: sweep hardware and mapping choices, lower + simulate + price
every point, tabulate, plot and mark the energy-latency Pareto front.

    from snncompile.sweep import load_spec, run_sweep, write_outputs, make_executor
    spec = load_spec("examples/sweeps/lanes_vs_encoding.toml")
    result = run_sweep(spec, make_executor(workers=4))        # or scheduler="tcp://..."
    write_outputs(result, "out/sweep")                         # results.json/.csv, sweep.png

Modules: `spec` (the TOML spec, validation, points), `axes` (axis names -> hardware fields and
lowering arguments), `model` (ONNX or config + random weights), `point` (one experiment, a
pure function), `executors` (serial, process pool, dask), `runner`, `results` (Pareto front,
JSON, CSV), `report` (terminal table), `plot` (PNG).
"""

from snncompile.sweep.axes import AXIS_NAMES, HARDWARE_AXES, MAPPING_DEFAULTS
from snncompile.sweep.executors import (DaskExecutor, ProcessExecutor, SerialExecutor,
                                        make_executor)
from snncompile.sweep.point import PointTask, run_point
from snncompile.sweep.results import SweepResult, pareto_front
from snncompile.sweep.runner import run_sweep, tasks_of, write_outputs
from snncompile.sweep.spec import Axis, Point, SweepSpec, load_spec, parse_spec

__all__ = ["AXIS_NAMES", "HARDWARE_AXES", "MAPPING_DEFAULTS", "Axis", "DaskExecutor", "Point",
           "PointTask", "ProcessExecutor", "SerialExecutor", "SweepResult", "SweepSpec",
           "load_spec", "make_executor", "pareto_front", "parse_spec", "run_point", "run_sweep",
           "tasks_of", "write_outputs"]
