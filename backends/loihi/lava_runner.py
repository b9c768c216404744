"""Run Lava Dense networks described by a job file; standalone (numpy + lava-nc only).

This script runs inside the Python 3.10 virtual environment that holds lava-nc 0.10.0
(`make install-lava`); snncompile (Python 3.11) never imports lava itself. Usage:

    python lava_runner.py JOB.npz RESULT.npz

JOB.npz (loaded with allow_pickle=False) holds `manifest` (UTF-8 JSON as uint8) and int32
arrays. Manifest (format "snncompile-lava-job/1"):

    {"format": ..., "select_tag": "fixed_pt",
     "networks": [{"name": str, "steps": S, "source": KEY,
                   "dense": [{"weights": KEY, "out": KEY, "num_message_bits": int,
                              "num_weight_bits": int, "weight_exp": int,
                              "sign_mode": "MIXED"}, ...]}, ...]}

Each network is one connected Lava graph: a `lava.proc.io.source.RingBuffer` with data
(n_in, S) feeding every listed `lava.proc.dense.process.Dense` (weights (n_out, n_in)), each
read by its own `lava.proc.io.sink.RingBuffer` of S steps. Networks run one after another
for S steps under `Loihi2SimCfg(select_tag=...)`. RESULT.npz holds, per Dense `out` key, the
sink's record (n_out, S) as int64, and `manifest` (format "snncompile-lava-result/1") with the
lava version and per network `build_s`, `run_s`, `processes`.

Exit status: 0 done; 3 lava-nc is not importable by this interpreter; 2 a malformed job;
1 anything else (traceback on stderr). The result is written to a temporary name and renamed.
"""

import json
import os
import sys
import time

import numpy as np

JOB_FORMAT = "snncompile-lava-job/1"
RESULT_FORMAT = "snncompile-lava-result/1"
EXIT_BAD_JOB = 2
EXIT_NO_LAVA = 3


class BadJob(Exception):
    pass


def _read_job(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if "manifest" not in arrays:
        raise BadJob("job has no manifest")
    manifest = json.loads(arrays.pop("manifest").tobytes().decode("utf-8"))
    if manifest.get("format") != JOB_FORMAT:
        raise BadJob(f"job format is {manifest.get('format')!r}, expected {JOB_FORMAT!r}")
    return manifest, arrays


def _array(arrays, key, ndim):
    if key not in arrays:
        raise BadJob(f"job has no array {key!r}")
    a = arrays[key]
    if a.ndim != ndim or a.dtype.kind not in "iu":
        raise BadJob(f"array {key!r} must be a {ndim}-D integer array, got {a.dtype} {a.shape}")
    return a.astype(np.int32)


def _run_network(net, arrays, select_tag, lava):
    Dense, Source, Sink, SignMode, RunSteps, Loihi2SimCfg = lava
    t0 = time.perf_counter()
    steps = int(net["steps"])
    data = _array(arrays, net["source"], 2)
    if data.shape[1] != steps:
        raise BadJob(f"network {net['name']!r}: source has {data.shape[1]} steps, not {steps}")
    source = Source(data=data)
    sinks = []
    for d in net["dense"]:
        w = _array(arrays, d["weights"], 2)
        if w.shape[1] != data.shape[0]:
            raise BadJob(f"network {net['name']!r}: weights {d['weights']!r} have "
                         f"{w.shape[1]} inputs, the source has {data.shape[0]}")
        dense = Dense(weights=w, num_message_bits=int(d["num_message_bits"]),
                      num_weight_bits=int(d["num_weight_bits"]),
                      weight_exp=int(d["weight_exp"]), sign_mode=SignMode[d["sign_mode"]])
        sink = Sink(shape=(w.shape[0],), buffer=steps)
        source.s_out.connect(dense.s_in)
        dense.a_out.connect(sink.a_in)
        sinks.append((d["out"], sink))
    t1 = time.perf_counter()
    source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag=select_tag))
    try:
        outs = {}
        for key, sink in sinks:
            rec = np.asarray(sink.data.get())
            ints = np.rint(rec).astype(np.int64)
            if not np.array_equal(ints, rec):
                raise RuntimeError(f"sink {key!r} recorded non-integer values")
            outs[key] = ints
    finally:
        source.stop()
    t2 = time.perf_counter()
    return outs, {"name": net["name"], "build_s": t1 - t0, "run_s": t2 - t1,
                  "processes": 1 + 2 * len(sinks)}


def main(argv):
    if len(argv) != 3:
        print("usage: lava_runner.py JOB.npz RESULT.npz", file=sys.stderr)
        return EXIT_BAD_JOB
    job_path, result_path = argv[1], argv[2]
    try:
        import lava
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.dense.process import Dense
        from lava.proc.io.sink import RingBuffer as Sink
        from lava.proc.io.source import RingBuffer as Source
        from lava.utils.weightutils import SignMode
    except ImportError as exc:
        print(f"lava-nc is not importable by {sys.executable}: {exc}", file=sys.stderr)
        return EXIT_NO_LAVA
    lava_mods = (Dense, Source, Sink, SignMode, RunSteps, Loihi2SimCfg)
    try:
        manifest, arrays = _read_job(job_path)
        networks = manifest["networks"]
    except (BadJob, KeyError, ValueError, OSError) as exc:
        print(f"bad job {job_path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BAD_JOB
    select_tag = manifest.get("select_tag", "fixed_pt")
    results, timings = {}, []
    try:
        for net in networks:
            outs, timing = _run_network(net, arrays, select_tag, lava_mods)
            results.update(outs)
            timings.append(timing)
    except BadJob as exc:
        print(f"bad job {job_path}: {exc}", file=sys.stderr)
        return EXIT_BAD_JOB
    try:
        from importlib.metadata import version
        lava_version = version("lava-nc")
    except Exception:  # noqa: BLE001 - the version is informative only
        lava_version = getattr(lava, "__version__", None)
    meta = {"format": RESULT_FORMAT, "lava_version": lava_version,
            "python": sys.version.split()[0], "networks": timings}
    results["manifest"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    tmp = f"{result_path}.tmp-{os.getpid()}.npz"
    try:
        np.savez(tmp, **results)
        os.replace(tmp, result_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
