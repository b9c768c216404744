"""A feed-forward LIF network built in Norse (LIFBoxCell: leaky, no synaptic current),
exported with Norse's own NIR exporter (norse.torch.to_nir), imported and compared with
Norse's own simulation (docs/nir.md, "Checked against Norse").

Norse 1.1's exporter writes tau = dt / tau_mem_inv (the time constant times dt, with dt its
step, 1e-3 by default) and r = 1. Imported with --dt = dt_norse^2 the forward-Euler
coefficients are Norse's own: alpha = 1 - dt_norse tau_mem_inv, gain = dt_norse tau_mem_inv,
and the spike trains are identical. Norse is installed without its dependencies (it would
pull a torch build); the test is skipped, and says so, where it is not installed."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from snncompile.nir import import_nir
from snncompile.simulator.executor import NumpyExecutor

nt = pytest.importorskip("norse.torch", reason="norse is not installed (docs/nir.md)")

DT_NORSE = 1e-3


def _params(d, tau_inv, v_th):
    return nt.LIFBoxParameters(tau_mem_inv=torch.full((d,), tau_inv),
                               v_th=torch.full((d,), v_th), v_leak=torch.zeros(d),
                               v_reset=torch.zeros(d))


def test_lif_box_network_identical(tmp_path):
    from norse.torch.utils.export_nir import to_nir
    torch.manual_seed(0)
    net = nt.SequentialState(torch.nn.Linear(8, 6, bias=False),
                             nt.LIFBoxCell(_params(6, 100.0, 0.3)),
                             torch.nn.Linear(6, 4), nt.LIFBoxCell(_params(4, 200.0, 0.3)))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(10)
    nir.write(tmp_path / "n.nir", to_nir(net, torch.zeros(1, 8), dt=DT_NORSE))
    g = import_nir(tmp_path / "n.nir", DT_NORSE ** 2, source="norse")
    assert [n.op_type for n in g.nodes] == ["SpikedLinear", "Bias", "EulerNeuron"] * 2
    alpha = g.params[g.nodes[2].params["alpha_v"]]
    np.testing.assert_allclose(alpha, 1 - DT_NORSE * 100.0, rtol=1e-6)
    x = (np.random.default_rng(0).random((200, 8)) < 0.3).astype(np.int64)
    net = net.double()
    state, out = None, []
    with torch.no_grad():
        for row in x:
            z, state = net(torch.from_numpy(row[None].astype(np.float64)), state)
            out.append(z[0].numpy().astype(np.int64))
    want = np.stack(out)
    assert want.sum() > 20 and (want == 0).sum() > 20
    np.testing.assert_array_equal(NumpyExecutor(g).run_steps(x).outputs[0], want)
    # lowered to loihi1 (int8 weights, the EulerNeuron layers as they are): the simulator
    # spikes as the reference runs the lowered graph, and close to Norse's float network
    from snncompile.backends.accum import HardwareSpec
    from snncompile.backends.accum.network import lower_network
    from snncompile.simulator.stepped import simulate_steps
    prog = lower_network(g, HardwareSpec.load("loihi1"))
    ours = simulate_steps(prog, x).outputs[0]
    np.testing.assert_array_equal(ours, NumpyExecutor(prog.graph).run_steps(x).outputs[0])
    assert (ours == want).mean() > 0.9
