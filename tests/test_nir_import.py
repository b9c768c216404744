"""`snncompile nir import`: every NIR primitive in scope (Input, Output, Affine, Linear, Scale,
LIF, IF, CubaLIF, LI, Integrator (nir.I), CubaLI, Threshold, Flatten, subgraphs, fan-in),
checked against the NIR equations stepped by forward Euler written out here; the errors (one
line, exit 2, no output file); and the command line from a NIR file to run, lower and
simulate."""

from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.backends.reference.interpreter import ReferenceInterpreter
from snncompile.cli import main
from snncompile.errors import IRError
from snncompile.ir import serde
from snncompile.nir import import_nir
from snncompile.simulator.executor import NumpyExecutor

DT = 1e-3
T = 80


def _run(graph, x):
    ref = ReferenceInterpreter(graph, device="cpu").run_steps(x).outputs
    npy = NumpyExecutor(graph).run_steps(x).outputs
    for a, b in zip(ref, npy):  # spikes identical; potentials to the last bits (BLAS order)
        if a.dtype == np.int64:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    return ref


def _graph_a(rng):
    """Input [2, 4] -> Flatten -> Affine -> IF (v_reset != 0) -> subgraph {Input -> Linear ->
    LIF (per-neuron tau, v_leak, r) -> Output} -> Scale (on spikes) -> LI -> Output "v";
    the LIF's spikes -> Output "s"."""
    d1, d2 = 6, 5
    W1, b1 = rng.standard_normal((d1, 8)) * 1.5, rng.uniform(0, 0.3, d1)
    W2 = rng.standard_normal((d2, d1)) * 1.2
    IF = nir.IF(r=rng.uniform(500, 1500, d1), v_threshold=rng.uniform(0.5, 1.0, d1),
                v_reset=rng.uniform(-0.3, 0.0, d1))
    LIF = nir.LIF(tau=rng.uniform(5e-3, 2e-2, d2), r=rng.uniform(5, 15, d2),
                  v_leak=rng.uniform(-0.1, 0.1, d2), v_threshold=rng.uniform(0.3, 0.8, d2),
                  v_reset=np.zeros(d2))
    sub = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([d1])),
                              "w": nir.Linear(weight=W2), "lif": LIF,
                              "out": nir.Output(output_type=np.array([d2]))},
                       edges=[("in", "w"), ("w", "lif"), ("lif", "out")])
    sc = rng.uniform(-1, 2, d2)
    LI = nir.LI(tau=rng.uniform(2e-3, 1e-2, d2), r=rng.uniform(1, 3, d2),
                v_leak=rng.uniform(-0.2, 0.2, d2))
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([2, 4])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 4])}, start_dim=0, end_dim=-1),
        "aff": nir.Affine(weight=W1, bias=b1), "if": IF, "sub": sub,
        "scale": nir.Scale(scale=sc), "li": LI,
        "v": nir.Output(output_type=np.array([d2])), "s": nir.Output(output_type=np.array([d2]))},
        edges=[("input", "flat"), ("flat", "aff"), ("aff", "if"), ("if", "sub"),
               ("sub", "scale"), ("scale", "li"), ("li", "v"), ("sub", "s")])

    def reference(x):
        v1, v2, v3 = np.zeros(d1), np.zeros(d2), np.zeros(d2)
        V, S = [], []
        for row in x:
            v1 = v1 + DT * IF.r * (W1 @ row + b1)
            s1 = v1 > IF.v_threshold
            v1 = np.where(s1, IF.v_reset, v1)
            v2 = v2 + DT / LIF.tau * (LIF.v_leak - v2 + LIF.r * (W2 @ s1))
            s2 = v2 > LIF.v_threshold
            v2 = np.where(s2, LIF.v_reset, v2)
            v3 = v3 + DT / LI.tau * (LI.v_leak - v3 + LI.r * (sc * s2))
            V.append(v3.copy())
            S.append(s2.astype(np.int64))
        return np.array(V), np.array(S)
    return g, reference


def _graph_b(rng):
    """Input -> Linear -> CubaLIF (per neuron) -> Affine -> Integrator -> Affine (on floats)
    -> Scale -> Threshold
    -> Output "t"; CubaLIF -> Linear -> CubaLI -> Output "c"; Input -> two Linears into one
    LI (fan-in: summed) -> Output "f"."""
    n, d = 7, 4
    Wa, Wb, Wc = (rng.standard_normal((d, n)) * 2, rng.standard_normal((d, d)),
                  rng.standard_normal((d, d)))
    ba = rng.uniform(-0.2, 0.2, d)
    Wf1, Wf2 = rng.standard_normal((3, n)), rng.standard_normal((3, n))
    cuba = nir.CubaLIF(tau_syn=rng.uniform(2e-3, 5e-3, d), tau_mem=rng.uniform(5e-3, 1e-2, d),
                       r=rng.uniform(1, 4, d), v_leak=np.zeros(d),
                       v_threshold=rng.uniform(0.2, 0.5, d), v_reset=np.zeros(d),
                       w_in=rng.uniform(1, 3, d))
    integ = nir.I(r=rng.uniform(50, 200, d))
    sc, th = rng.uniform(0.5, 1.5, d), rng.uniform(0.0, 0.2, d)
    Wd, bd = rng.standard_normal((d, d)), rng.uniform(-0.1, 0.1, d)
    culi = nir.CubaLI(tau_syn=np.full(d, 4e-3), tau_mem=np.full(d, 8e-3), r=np.ones(d),
                      v_leak=np.zeros(d), w_in=np.full(d, 2.0))
    li = nir.LI(tau=np.full(3, 5e-3), r=np.ones(3), v_leak=np.zeros(3))
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([n])), "wa": nir.Linear(weight=Wa),
        "cuba": cuba, "aff": nir.Affine(weight=Wb, bias=ba), "integ": integ,
        "af2": nir.Affine(weight=Wd, bias=bd), "scale": nir.Scale(scale=sc),
        "thr": nir.Threshold(threshold=th),
        "wc": nir.Linear(weight=Wc), "culi": culi, "wf1": nir.Linear(weight=Wf1),
        "wf2": nir.Linear(weight=Wf2), "li": li,
        "t": nir.Output(output_type=np.array([d])), "c": nir.Output(output_type=np.array([d])),
        "f": nir.Output(output_type=np.array([3]))},
        edges=[("input", "wa"), ("wa", "cuba"), ("cuba", "aff"), ("aff", "integ"),
               ("integ", "af2"), ("af2", "scale"), ("scale", "thr"), ("thr", "t"), ("cuba", "wc"),
               ("wc", "culi"), ("culi", "c"), ("input", "wf1"), ("input", "wf2"),
               ("wf1", "li"), ("wf2", "li"), ("li", "f")])

    def reference(x):
        i, v, u = np.zeros(d), np.zeros(d), np.zeros(d)
        ci, cv, fv = np.zeros(d), np.zeros(d), np.zeros(3)
        out_t, out_c, out_f = [], [], []
        for row in x:
            i = i + DT / cuba.tau_syn * (-i + cuba.w_in * (Wa @ row))
            v = v + DT / cuba.tau_mem * (cuba.v_leak - v + cuba.r * i)
            s = v > cuba.v_threshold
            v = np.where(s, cuba.v_reset, v)
            u = u + DT * integ.r * (Wb @ s + ba)
            out_t.append((sc * (Wd @ u + bd) > th).astype(np.int64))
            ci = ci + DT / culi.tau_syn * (-ci + culi.w_in * (Wc @ s))
            cv = cv + DT / culi.tau_mem * (culi.v_leak - cv + culi.r * ci)
            out_c.append(cv.copy())
            fv = fv + DT / li.tau * (li.v_leak - fv + li.r * (Wf1 @ row + Wf2 @ row))
            out_f.append(fv.copy())
        return np.array(out_t), np.array(out_c), np.array(out_f)
    return g, reference


def test_primitives_a_match_the_nir_equations(tmp_path):
    rng = np.random.default_rng(0)
    g, reference = _graph_a(rng)
    nir.write(tmp_path / "a.nir", g)
    ir = import_nir(tmp_path / "a.nir", DT, source="handmade")
    types = [n.op_type for n in ir.nodes]
    assert types == ["SpikedLinear", "Bias", "EulerNeuron", "SpikedLinear", "EulerNeuron",
                     "SpikedLinear", "LeakyIntegrator"]
    assert ir.metadata["network"] == {"inputs": 8, "dt": DT, "source": "handmade"}
    x = (rng.random((T, 8)) < 0.4).astype(np.int64)
    V, S = reference(x)
    out = dict(zip(ir.metadata["nir"]["outputs"], _run(ir, x)))  # graph outputs by NIR key
    assert S.sum() > 5 and (S == 0).sum() > 5
    np.testing.assert_array_equal(out["s"], S)
    np.testing.assert_allclose(out["v"], V, rtol=0, atol=1e-9)


def test_primitives_b_match_the_nir_equations(tmp_path):
    rng = np.random.default_rng(1)
    g, reference = _graph_b(rng)
    nir.write(tmp_path / "b.nir", g)
    ir = import_nir(tmp_path / "b.nir", DT)
    types = {n.op_type for n in ir.nodes}
    assert {"EulerNeuron", "LeakyIntegrator", "Linear", "Scale", "Threshold", "Add"} <= types
    x = (rng.random((T, 7)) < 0.5).astype(np.int64)
    want = dict(zip("tcf", reference(x)))
    got = dict(zip(ir.metadata["nir"]["outputs"], _run(ir, x)))
    assert want["t"].sum() > 5 and (want["t"] == 0).sum() > 5
    np.testing.assert_array_equal(got["t"], want["t"])
    np.testing.assert_allclose(got["c"], want["c"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["f"], want["f"], rtol=0, atol=1e-9)


def test_shared_12bit_lif_becomes_the_cores_ops():
    d = 3
    lif = nir.LIF(tau=np.full(d, 8e-3), r=np.full(d, 8.0), v_leak=np.zeros(d),
                  v_threshold=np.full(d, 1.0), v_reset=np.zeros(d))
    ifn = nir.IF(r=np.full(d, 1e3), v_threshold=np.full(d, 2.0), v_reset=np.zeros(d))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])),
                            "w": nir.Linear(weight=np.ones((d, 4))), "lif": lif,
                            "w2": nir.Linear(weight=np.ones((d, d))), "if": ifn,
                            "output": nir.Output(output_type=np.array([d]))},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "w2"), ("w2", "if"),
                            ("if", "output")])
    ir = import_nir(g, DT)
    ops = [n.op for n in ir.nodes]
    assert [o.op_type for o in ops] == ["SpikedLinear", "LIF", "SpikedLinear", "IF"]
    assert ops[1].dv == 512 and ops[1].reset == "zero" and ops[1].delay == 0
    assert ops[3].threshold == 2.0
    ir2 = import_nir(g, DT, reset="subtract")
    assert ir2.nodes[1].op.reset == "subtract"


def test_dt_larger_than_tau_is_refused():
    d = 2
    lif = nir.LIF(tau=np.full(d, 1e-3), r=np.ones(d), v_leak=np.zeros(d),
                  v_threshold=np.ones(d), v_reset=np.zeros(d))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([d])), "lif": lif,
                            "output": nir.Output(output_type=np.array([d]))},
                     edges=[("input", "lif"), ("lif", "output")])
    with pytest.raises(IRError, match=r"node 'lif' \(LIF\): dt 0.002 exceeds tau"):
        import_nir(g, 2e-3)


def test_unmappable_primitive_names_node_and_type():
    # (Conv1d is mapped since tests/test_nir_conv.py; Delay is not)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([8])),
                            "delay": nir.Delay(delay=np.full(8, 1e-3)),
                            "output": nir.Output(output_type=np.array([8]))},
                     edges=[("input", "delay"), ("delay", "output")], type_check=False)
    with pytest.raises(IRError, match=r"^node 'delay' \(Delay\): not supported"):
        import_nir(g, DT)


def test_other_cycles_are_refused():
    d = 2
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([d])),
                            "a": nir.Linear(weight=np.eye(d)), "b": nir.Scale(scale=np.ones(d)),
                            "output": nir.Output(output_type=np.array([d]))},
                     edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")])
    with pytest.raises(IRError, match="cycle that is not a recurrent weight"):
        import_nir(g, DT)


def _ff_file(path):
    d = 4
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([6])),
        "w0": nir.Linear(weight=np.round(np.random.default_rng(0).standard_normal((d, 6)) * 2)),
        "lif0": nir.LIF(tau=np.full(d, 4e-3), r=np.full(d, 4.0), v_leak=np.zeros(d),
                        v_threshold=np.full(d, 1.5), v_reset=np.zeros(d)),
        "w1": nir.Linear(weight=np.round(np.random.default_rng(1).standard_normal((3, d)) * 2)),
        "lif1": nir.CubaLIF(tau_syn=np.full(3, 2e-3), tau_mem=np.full(3, 4e-3), r=np.full(3, 4.0),
                            v_leak=np.zeros(3), v_threshold=np.full(3, 1.0), v_reset=np.zeros(3),
                            w_in=np.full(3, 2.0)),
        "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "w0"), ("w0", "lif0"), ("lif0", "w1"), ("w1", "lif1"),
               ("lif1", "output")])
    nir.write(path, g)
    return path


def test_cli_import_run_lower_simulate(tmp_path):
    """nir import -> run --input -> lower --hw loihi1 -> simulate --input: the simulator on
    the lowered program gives the reference's spikes on the same program."""
    src = _ff_file(tmp_path / "net.nir")
    x = (np.random.default_rng(2).random((60, 6)) < 0.5).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    r = CliRunner()
    net = tmp_path / "net.onnx"
    res = r.invoke(main, ["nir", "import", str(src), "-o", str(net), "--dt", "1e-3",
                          "--source", "handmade"])
    assert res.exit_code == 0, res.output
    assert "SpikedLinear, LIF, SpikedLinear, CubaLIF" in res.output
    res = r.invoke(main, ["run", str(net), "--input", str(tmp_path / "x.npy"),
                          "-o", str(tmp_path / "y.npy")])
    assert res.exit_code == 0, res.output
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (60, 3) and y.sum() > 0
    prog = tmp_path / "prog"
    res = r.invoke(main, ["lower", str(net), "--hw", "loihi1", "-o", str(prog)])
    assert res.exit_code == 0, res.output
    for cmd, out in (("run", "yr.npy"), ("simulate", "ys.npy")):
        res = r.invoke(main, [cmd, str(prog), "--input", str(tmp_path / "x.npy"),
                              "-o", str(tmp_path / out)])
        assert res.exit_code == 0, res.output
    ys, yr = np.load(tmp_path / "ys.npy"), np.load(tmp_path / "yr.npy")
    np.testing.assert_array_equal(ys, yr)
    # integer weights quantize exactly to int8: the lowered program spikes as the float one
    np.testing.assert_array_equal(ys, y)


def _corrupt(path, good):
    """Damage to the HDF5 object headers after the superblock (bytes 512..767). Damage to
    free space or to array bytes that still decode is not detectable: NIR files hold no
    checksums (docs/nir.md)."""
    b = bytearray(good.read_bytes())
    for i in range(512, 768):
        b[i] ^= 0x5A
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("kind", ["truncated", "corrupted", "text", "foreign_hdf5",
                                  "unknown_type", "empty"])
def test_cli_bad_files_exit_2_one_line_no_output(tmp_path, kind):
    good = _ff_file(tmp_path / "good.nir")
    bad = tmp_path / "bad.nir"
    if kind == "truncated":
        bad.write_bytes(good.read_bytes()[:700])
    elif kind == "corrupted":
        _corrupt(bad, good)
    elif kind == "text":
        bad.write_text("not a nir file\n")
    elif kind == "foreign_hdf5":
        with h5py.File(bad, "w") as f:
            f["data"] = np.arange(4)
    elif kind == "unknown_type":
        bad.write_bytes(good.read_bytes())
        with h5py.File(bad, "a") as f:
            del f["node/nodes/lif0/type"]
            f["node/nodes/lif0/type"] = "Izhikevich"
    else:
        bad.write_bytes(b"")
    out = tmp_path / "out.onnx"
    res = CliRunner().invoke(main, ["nir", "import", str(bad), "-o", str(out), "--dt", "1e-3"])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    if kind == "unknown_type":
        assert "node 'lif0' has unknown type 'Izhikevich'" in lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out")] == []


def test_cli_unsupported_node_exit_2(tmp_path):
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])),
                            "delay": nir.Delay(delay=np.full(4, 1e-3)),
                            "output": nir.Output(output_type=np.array([4]))},
                     edges=[("input", "delay"), ("delay", "output")])
    nir.write(tmp_path / "d.nir", g)
    res = CliRunner().invoke(main, ["nir", "import", str(tmp_path / "d.nir"), "-o",
                                    str(tmp_path / "d.onnx"), "--dt", "1e-3"])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error: node 'delay' (Delay): not supported")
    assert not (tmp_path / "d.onnx").exists()


def test_random_damage_is_a_typed_error_or_a_valid_graph(tmp_path):
    """60 random damages (a run of flipped bytes, or a truncation) of a NIR file: the import
    either raises IRError or returns a graph that verifies (damage it cannot see: free space,
    array bytes that still decode); never another exception."""
    good = _ff_file(tmp_path / "good.nir").read_bytes()
    rng = np.random.default_rng(11)
    errors = 0
    for k in range(60):
        b = bytearray(good)
        if k % 3 == 0:
            b = b[: int(rng.integers(0, len(b)))]
        else:
            start = int(rng.integers(0, len(b) - 64))
            for i in range(start, start + int(rng.integers(1, 64))):
                b[i] ^= int(rng.integers(1, 256))
        path = tmp_path / f"d{k}.nir"
        path.write_bytes(bytes(b))
        try:
            import_nir(path, DT).verify()
        except IRError:
            errors += 1
    assert errors >= 20  # every truncation at least is caught


def test_cli_lower_per_neuron_parameters_or_quantized_decays(tmp_path):
    """A decay that is no 12-bit fraction imports as an `EulerNeuron` (float, per neuron),
    which lowers and simulates as it is; with `--quantize-decays` the same file becomes a
    LIF with a 12-bit decay. Both simulate as the reference runs their lowered graph."""
    d = 3
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])),
                            "w": nir.Linear(weight=np.ones((d, 4))),
                            "lif": nir.LIF(tau=np.full(d, 1e-2), r=np.full(d, 10.0),
                                           v_leak=np.zeros(d), v_threshold=np.full(d, 1.0),
                                           v_reset=np.zeros(d)),
                            "output": nir.Output(output_type=np.array([d]))},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    nir.write(tmp_path / "n.nir", g)     # dt 1e-3: alpha 0.9, no 12-bit fraction
    r = CliRunner()
    for flags, name in (([], "e.onnx"), (["--quantize-decays"], "q.onnx")):
        res = r.invoke(main, ["nir", "import", str(tmp_path / "n.nir"), "-o",
                              str(tmp_path / name), "--dt", "1e-3", *flags])
        assert res.exit_code == 0, res.output
    x = (np.random.default_rng(4).random((30, 4)) < 0.5).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    for name, neuron in (("e", "EulerNeuron"), ("q", "LIF")):
        res = r.invoke(main, ["lower", str(tmp_path / f"{name}.onnx"), "--hw", "loihi1", "-o",
                              str(tmp_path / f"p{name}")])
        assert res.exit_code == 0, res.output
        for cmd in ("run", "simulate"):
            res = r.invoke(main, [cmd, str(tmp_path / f"p{name}"), "--input",
                                  str(tmp_path / "x.npy"), "-o", str(tmp_path / f"{cmd}.npy")])
            assert res.exit_code == 0, res.output
        ys, yr = np.load(tmp_path / "simulate.npy"), np.load(tmp_path / "run.npy")
        np.testing.assert_array_equal(ys, yr)
        assert ys.sum() > 0
        assert neuron in [n.op_type for n in serde.load(tmp_path / f"{name}.onnx").nodes]
