"""Run every benchmark script in turn and collect their JSON figures in one file.

    .venv/bin/python benchmarks/run_all.py [--out out/bench] [--skip NAME ...] [--with-export]

Each script is run as its own process (`--json`), so one's memory peak does not inflate the
next. The 1.3b export benchmark (about 3 minutes, 12 GB of memory, 5 GB of disk) runs only
with --with-export. Results: <out>/<script>.json and <out>/all.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["sim_throughput", "sim_vs_reference", "sim_1p3b", "sanafe_compare", "lava_speed",
           "sweep_scaling", "evaluate_vs_simulate"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/bench")
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--with-export", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scripts = SCRIPTS + (["export_1p3b"] if args.with_export else [])
    results: dict[str, object] = {}
    failed = []
    for name in scripts:
        if name in args.skip:
            continue
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), "--json"],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
            failed.append(name)
            results[name] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
            continue
        print(proc.stdout[-3000:])
        try:
            start = proc.stdout.index("{")
            data = json.loads(proc.stdout[start:proc.stdout.rindex("}") + 1])
        except ValueError:
            data = {"stdout": proc.stdout}
        results[name] = {"wall_s": round(wall, 1), "figures": data}
        (out / f"{name}.json").write_text(json.dumps(results[name], indent=2))
    (out / "all.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'all.json'}" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
