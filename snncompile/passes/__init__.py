"""Graph passes, one per file (`snncompile.passes.<name>.run(graph) -> PassResult`), run as a
straight list by `run_pipeline`, which verifies the graph after every pass. A backend's
lowering is a straight list of named `Step`s over its lowering state, run by `run_steps`."""

from snncompile.passes.base import (Pass, PassResult, PipelineResult, Step, StepsResult,
                                    pass_name, run_pipeline, run_steps)

__all__ = ["Pass", "PassResult", "PipelineResult", "Step", "StepsResult", "pass_name",
           "run_pipeline", "run_steps"]
