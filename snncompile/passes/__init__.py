"""Graph passes, one per file (`snncompile.passes.<name>.run(graph) -> PassResult`), run as a
straight list by `run_pipeline`, which verifies the graph after every pass."""

from snncompile.passes.base import Pass, PassResult, PipelineResult, pass_name, run_pipeline

__all__ = ["Pass", "PassResult", "PipelineResult", "pass_name", "run_pipeline"]
