"""Train a small snnTorch classifier, carry it through NIR into snncompile, and measure it
on two chips (examples/nir/README.md).

    python examples/nir/train_classifier.py [-o results.json] [--out-dir DIR] [--quick]

1. trains Linear -> Leaky -> Linear -> Leaky (no biases, `reset_mechanism="zero"`, beta
   0.875 = 3584/4096, a 12-bit decay) with surrogate gradients on the synthetic task of
   `spike_task.py` (class = the output neuron with the most spikes over the T steps; ties go
   to the lowest index);
2. exports it with `snntorch.export_nir.export_to_nir`, imports it with
   `snncompile.nir.import_nir` (dt 1e-4 s, snnTorch's): the layers become the cores' `LIF`
   ops (a beta that is no 12-bit fraction needs `--quantize-decays`);
3. lowers it with the accum backend to the `loihi1` and `default` hardware (the lowering
   quantizes each layer's weights to the cores' int8, one scale per output neuron) and runs
   every test sample through the time-stepped simulator, from zero state;
4. reports the accuracy of snnTorch (float32), of the imported graph on the reference
   interpreter (float64, float weights) and of each lowered program, and, per inference
   (one sample, T steps), the energy by component priced with each chip's cost table
   (loihi1: `loihi1-sanafe`, SANA-FE's calibration the preset's timing comes from, and
   `loihi1`, Davies et al. 2018; default: `accum`) and the chip time.

--out-dir keeps net.nir and one test sample (sample.npy, T x inputs) for the command-line
chain of the README. The JSON document (-o) is format `snncompile-example-nir/1`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spike_task import SpikeTask  # noqa: E402

FORMAT = "snncompile-example-nir/1"
DT = 1e-4                   # snnTorch's exporter writes tau = DT / (1 - beta)
PJ = 1e-12
# hardware preset -> the cost tables that price it (the first is the matching one)
HARDWARE = {"loihi1": ("loihi1-sanafe", "loihi1"), "default": ("accum",)}
QUICK = dict(classes=4, inputs=48, hidden=32, steps=20, noise=0.5, train=400, test=100,
             epochs=6, batch=32)
INIT_GAIN = 3.0  # initial weights x 3 (PyTorch's default init barely drives a threshold of 1)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", help="write the results as JSON")
    p.add_argument("--out-dir", help="keep net.nir and sample.npy here")
    p.add_argument("--quick", action="store_true", help="a tiny run (seconds): "
                   + ", ".join(f"{k} {v}" for k, v in QUICK.items()))
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--inputs", type=int, default=100)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--steps", type=int, default=40, help="time steps per sample")
    p.add_argument("--noise", type=float, default=0.7, help="share of random rates in a sample")
    p.add_argument("--train", type=int, default=10000, help="training samples")
    p.add_argument("--test", type=int, default=500, help="test samples")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--beta", type=float, default=0.875, help="decay of both Leaky layers")
    p.add_argument("--quantize-decays", action="store_true",
                   help="import with quantize_decays (needed when beta is no multiple of 2^-12)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            if p.get_default(k) == getattr(args, k):
                setattr(args, k, v)
    return args


def build_net(n_in: int, hidden: int, classes: int, beta: float):
    """Linear -> Leaky -> Linear -> Leaky, per-neuron beta and threshold tensors (snnTorch's
    exporter cannot type a scalar-parameter layer), reset to zero; initial weights are
    PyTorch's times INIT_GAIN."""
    import snntorch as snn
    import torch

    def leaky(d, **kw):
        return snn.Leaky(beta=torch.full((d,), beta), threshold=torch.ones(d), init_hidden=True,
                         reset_mechanism="zero", **kw)

    net = torch.nn.Sequential(torch.nn.Linear(n_in, hidden, bias=False), leaky(hidden),
                              torch.nn.Linear(hidden, classes, bias=False),
                              leaky(classes, output=True))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(INIT_GAIN)
    return net


def run_snntorch(net, x):
    """Output spikes (T, batch, classes) of net on x (batch, T, n_in), from zero state."""
    import torch
    from snntorch import utils

    utils.reset(net)
    out = []
    for t in range(x.shape[1]):
        spk, _mem = net(x[:, t])
        out.append(spk)
    return torch.stack(out)


def predict(spikes: np.ndarray) -> np.ndarray:
    """Class per sample from output spikes (..., T, classes): the most spikes, lowest index
    on a tie."""
    return np.argmax(spikes.sum(axis=-2), axis=-1)


def train(net, task: SpikeTask, args, patterns) -> dict:
    import snntorch.functional as SF
    import torch

    x, y = task.sample(args.train, args.seed + 1, patterns)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = SF.ce_count_loss()
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    losses = []
    for _epoch in range(args.epochs):
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), args.batch):
            idx = order[i:i + args.batch]
            spk = run_snntorch(net, xt[idx])
            loss = loss_fn(spk, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(xt))
    return {"samples": int(len(xt)), "epochs": args.epochs, "loss_per_epoch": losses,
            "wall_s": time.perf_counter() - t0}


def export_and_import(net, n_in: int, path: Path, quantize_decays: bool):
    """net -> NIR file -> IR graph; the graph must be the cores' SpikedLinear -> LIF chain."""
    import nir
    import torch
    from snntorch.export_nir import export_to_nir

    from snncompile.nir import import_nir

    nir.write(path, export_to_nir(net.cpu().eval(), torch.zeros(1, n_in), ignore_dims=[0]))
    graph = import_nir(path, DT, source="snntorch", quantize_decays=quantize_decays)
    ops = [n.op_type for n in graph.nodes]
    if ops != ["SpikedLinear", "LIF"] * (len(ops) // 2):
        raise SystemExit(f"the import gave {ops}, not SpikedLinear -> LIF layers the cores run "
                         "(a beta that is no 12-bit fraction needs --quantize-decays)")
    return graph


def run_reference(graph, x: np.ndarray) -> np.ndarray:
    """Output spikes (n, T, classes) of the imported graph on the reference interpreter."""
    from snncompile.backends.reference.interpreter import ReferenceInterpreter

    ref = ReferenceInterpreter(graph, device="cpu")
    return np.stack([ref.run_steps(s).outputs[0] for s in x])


def on_hardware(graph, hw_name: str, x: np.ndarray, y: np.ndarray) -> dict:
    """Lower `graph` to `hw_name`, simulate every sample, price the summed counters."""
    from snncompile.backends import get_backend
    from snncompile.energy.price import price
    from snncompile.energy.table import load_table
    from snncompile.simulator.stepped import SteppedNetwork

    program = get_backend("accum").lower(graph, hw_name, source="train_classifier")
    net = SteppedNetwork(program)
    counters, outs, times = None, [], []
    t0 = time.perf_counter()
    for s in x:
        res = net.run(s)
        outs.append(res.outputs[0])
        times.append(res.time_s)
        counters = res.counters if counters is None else counters + res.counters
    wall = time.perf_counter() - t0
    n = len(x)
    counters = counters.with_meta(**{k: v for k, v in res.counters.meta.items()
                                     if k != "steps"})
    energy = {}
    for table_name in HARDWARE[hw_name]:
        report = price(counters, load_table(table_name, hardware=counters.meta["hardware"]))
        per = {k: v * PJ / n for k, v in report.snn.as_dict().items()}
        energy[table_name] = {"per_inference_j": per, "notes": list(report.notes)}
    tot = counters.totals()
    report = program.report()
    return {
        "hardware": hw_name, "cores_used": report["cores_used"],
        "tiles_used": report["tiles_used"],
        "accuracy": float((predict(np.stack(outs)) == y).mean()),
        "latency_per_inference_s": float(np.mean(times)),
        "energy": energy,
        "per_inference": {"acs": tot.acs / n, "spikes": tot.spikes / n,
                          "spike_messages": tot.spike_messages / n,
                          "neuron_updates": tot.neuron_updates / n},
        "host_wall_s": wall,
        "outputs": np.stack(outs),
    }


def main(argv=None) -> dict:
    import torch

    args = parse_args(argv)
    torch.manual_seed(args.seed)
    task = SpikeTask(args.classes, args.inputs, args.steps, noise=args.noise)
    patterns = task.patterns(args.seed)
    net = build_net(args.inputs, args.hidden, args.classes, args.beta)
    training = train(net, task, args, patterns)

    x, y = task.sample(args.test, args.seed + 2, patterns)
    with torch.no_grad():
        snn_out = run_snntorch(net.eval(), torch.from_numpy(x).float()).numpy()
    acc_snntorch = float((predict(np.swapaxes(snn_out, 0, 1)) == y).mean())

    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(args.out_dir or tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        graph = export_and_import(net, args.inputs, out_dir / "net.nir", args.quantize_decays)
        np.save(out_dir / "sample.npy", x[0])
        ref_out = run_reference(graph, x)
    acc_ref = float((predict(ref_out) == y).mean())
    hw = {name: on_hardware(graph, name, x, y) for name in HARDWARE}
    for r in hw.values():
        sim_out = r.pop("outputs")
        same = (sim_out == ref_out).all(axis=(1, 2))
        r["output_spikes_equal_to_imported_reference"] = float(same.mean())

    result = {
        "format": FORMAT,
        "task": {"classes": args.classes, "inputs": args.inputs, "steps": args.steps,
                 "noise": args.noise, "test_samples": args.test, "dt_s": DT},
        "network": {"layers": [args.inputs, args.hidden, args.classes], "beta": args.beta,
                    "reset": "zero", "imported_ops": [n.op_type for n in graph.nodes],
                    "decays_dv": [n.op.dv for n in graph.nodes if n.op_type == "LIF"],
                    "quantize_decays": args.quantize_decays},
        "training": training,
        "accuracy": {"snntorch_float": acc_snntorch, "imported_reference": acc_ref,
                     **{f"lowered_{k}": v["accuracy"] for k, v in hw.items()},
                     "chance": 1.0 / args.classes},
        "hardware": hw,
    }
    print_summary(result)
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_summary(r: dict) -> None:
    t, a = r["task"], r["accuracy"]
    print(f"task: {t['classes']} classes, {t['inputs']} inputs, {t['steps']} steps, "
          f"{t['test_samples']} test samples; network {r['network']['layers']} "
          f"({', '.join(r['network']['imported_ops'])}, dv {r['network']['decays_dv']}); "
          f"trained {r['training']['epochs']} epochs in {r['training']['wall_s']:.1f} s")
    print(f"accuracy: snnTorch float {a['snntorch_float']:.3f}, imported reference "
          f"{a['imported_reference']:.3f}, "
          + ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in r["hardware"].items())
          + f" (chance {a['chance']:.3f})")
    for name, h in r["hardware"].items():
        print(f"{name}: {h['cores_used']} cores, latency {h['latency_per_inference_s'] * 1e6:.2f}"
              f" us/inference, {h['per_inference']['acs']:.0f} synaptic events/inference, "
              f"output spikes equal to the float reference on "
              f"{h['output_spikes_equal_to_imported_reference']:.1%}"
              " of samples")
        for table, e in h["energy"].items():
            pj = e["per_inference_j"]
            parts = ", ".join(f"{k} {pj[k] * 1e9:.3f}" for k in
                              ("ac", "mac", "neuron", "memory", "noc", "static") if pj[k])
            print(f"  energy ({table}): {pj['total'] * 1e9:.3f} nJ/inference ({parts} nJ)")


if __name__ == "__main__":
    main()
