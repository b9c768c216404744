"""Lowering onto the generic core: tiling, packing, placement, Program folder, fit errors."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from snncompile.backends import get_backend
from snncompile.backends.accum import AccumBackend, HardwareSpec, Program
from snncompile.backends.accum.mapping import estimate_traffic
from snncompile.backends.accum.partition import LayerTiles, pack, tile_sram
from snncompile.backends.accum.placement import place, snake_order, weighted_median
from snncompile.backends.accum.report import mapping_report
from snncompile.backends.accum.tiling import balanced_splits, tile_projection
from snncompile.errors import HardwareFitError, SimulationError
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.models.config import PUBLIC_CONFIGS, SpikingMambaConfig


def _hw(name="default", **kw):
    return dataclasses.replace(HardwareSpec.load(name), **kw)


# a chip whose cores are small enough to split the test model's layers several ways
TINY = _hw("default", cores=64, mesh=(8, 8), neurons_per_core=48, axons_per_core=24,
           weight_sram_bytes=900)


@pytest.mark.parametrize("d_in, d_out, hw", [
    (768, 3352, HardwareSpec.load("default")), (2048, 8512, HardwareSpec.load("default")),
    (64, 32, TINY), (37, 101, TINY), (32, 148, HardwareSpec.load("small")),
    # sub-byte weights, odd column counts: each row segment is padded to whole bytes
    (200, 3, _hw("small", weight_bits=4, weight_sram_bytes=64, neurons_per_core=3)),
    (1000, 1001, _hw("default", weight_bits=3))])
def test_tiles_fit_a_core(d_in, d_out, hw):
    g = tile_projection(d_in, d_out, hw, spikes_per_input=1.0)
    assert g.row_splits[0] == 0 and g.row_splits[-1] == d_in
    assert g.col_splits[0] == 0 and g.col_splits[-1] == d_out
    sizes_r, sizes_c = np.diff(g.row_splits), np.diff(g.col_splits)
    assert sizes_r.max() - sizes_r.min() <= 1 and sizes_c.max() - sizes_c.min() <= 1
    for _r, _c, rows, cols in g.tiles():
        assert cols <= hw.neurons_per_core and rows <= hw.axons_per_core
        assert tile_sram(rows, cols, hw) <= hw.weight_sram_bytes
    # within 10 % of the fewest tiles any grid could use (brute force over column counts)
    def tiles_for(C):
        cols = -(-d_out // C)
        rows = min(d_in, hw.axons_per_core, hw.weight_sram_bytes // hw.row_bytes(cols))
        return C * -(-d_in // rows) if rows else None
    c_min = -(-d_out // min(hw.neurons_per_core, hw.weights_per_core))
    fewest = min(t for t in map(tiles_for, range(c_min, d_out + 1)) if t)
    assert g.n_tiles <= fewest * 1.1


def test_tiles_respect_accumulator_width():
    hw = _hw("default", state_bits=12)                       # 2047 // (127 * 4) = 4 rows
    g = tile_projection(64, 16, hw, 1.0, D=4)
    assert max(np.diff(g.row_splits)) <= 4 and g.R == 16
    rows = max(np.diff(tile_projection(64, 16, hw, 1.0, D=1).row_splits))
    assert rows * 127 * 1 <= 2 ** 11 - 1 < (rows + 1) * 127 or rows == 64
    with pytest.raises(HardwareFitError, match="state_bits"):
        tile_projection(64, 16, _hw("default", state_bits=8), 1.0, D=4, name="L")


def test_tiling_follows_spike_density():
    hw = HardwareSpec.load("default")
    sparse = tile_projection(2048, 8512, hw, spikes_per_input=0.05)
    dense_ = tile_projection(2048, 8512, hw, spikes_per_input=4.0)
    assert sparse.C >= dense_.C and sparse.R <= dense_.R  # sparse: wider broadcast is cheap
    assert balanced_splits(10, 3) == (0, 4, 7, 10)


def test_snake_and_median():
    order = snake_order(5, 7, 3)
    assert sorted(order) == [(r, c) for r in range(5) for c in range(7)]
    for (r0, c0), (r1, c1) in zip(order, order[1:]):
        assert abs(r0 - r1) + abs(c0 - c1) == 1  # consecutive cores are neighbours
    assert weighted_median([0, 5, 9], [1, 1, 10]) == 9
    assert weighted_median([0, 5, 9], [1, 1, 1]) == 5


def _tiled(cfg, hw, spi=1.0):
    g = build_graph(cfg)
    return [LayerTiles(n.name, n.block, tile_projection(n.op.d_in, n.op.d_out, hw, spi))
            for n in g.nodes if n.op_type == "SpikedLinear"]


def test_pack_respects_capacity_and_blocks(spiking_config):
    layers = _tiled(spiking_config, TINY)
    bins = pack(layers, TINY)
    assert len(bins) > len(layers)  # several tiles per layer on this chip
    tiles = [layer.grid.tiles() for layer in layers]
    seen = set()
    for b in bins:
        assert b.neurons <= TINY.neurons_per_core and b.axons <= TINY.axons_per_core
        assert b.sram <= TINY.weight_sram_bytes
        assert len({layers[li].block for li, _ in b.tiles}) == 1  # bins stay within a block
        assert b.neurons == sum(tiles[li][ti][3] for li, ti in b.tiles)
        seen.update(b.tiles)
    assert seen == {(li, ti) for li, t in enumerate(tiles) for ti in range(len(t))}


def test_pack_fit_error_names_the_layer(spiking_config):
    hw = HardwareSpec.load("small")
    with pytest.raises(HardwareFitError) as exc:
        pack(_tiled(spiking_config, hw), hw)
    msg = str(exc.value)
    assert "layers.1." in msg and "cores" in msg and "needs" in msg


def test_shared_placement_is_optimal_for_the_star():
    """Brute force on a 2x3 mesh: no assignment of bins to cores has fewer weighted hops."""
    hw = _hw("small", cores=6, mesh=(2, 3), dense_position=(0, 1), neurons_per_core=24,
             axons_per_core=24, weight_sram_bytes=400)
    cfg = SpikingMambaConfig(d_model=16, n_layer=1, vocab_size=32, d_state=4, headdim=8,
                             expand=1, spiking=True)
    layers = _tiled(cfg, hw)
    bins = pack(layers, hw)
    assert 2 <= len(bins) <= 6
    from snncompile.backends.accum.placement import bin_weights
    w = bin_weights(bins, layers, 1.0)
    p = hw.core_id(*hw.dense_position)
    got = place(bins, layers, hw, 1.0, [0, None])
    cost = sum(wi * hw.hops(c, p) for wi, c in zip(w, got.bin_core))
    best = min(sum(wi * hw.hops(c, p) for wi, c in zip(w, perm))
               for perm in itertools.permutations(range(hw.cores), len(bins)))
    assert cost == pytest.approx(best)
    assert len(set(got.bin_core)) == len(bins)


def test_per_core_hosts_minimise_hops():
    hw = _hw("large", cores=100, mesh=(10, 10))
    cfg = SpikingMambaConfig(d_model=64, n_layer=3, vocab_size=32, d_state=8, headdim=16,
                             spiking=True)
    hw = dataclasses.replace(hw, neurons_per_core=64, axons_per_core=64, weight_sram_bytes=2048)
    layers = _tiled(cfg, hw)
    bins = pack(layers, hw)
    from snncompile.backends.accum.placement import bin_weights
    w = bin_weights(bins, layers, 1.0)
    got = place(bins, layers, hw, 1.0, [None, 0, 1, 2])
    assert len(set(got.bin_core)) == len(bins)
    for blk in (0, 1, 2):
        idx = [i for i, b in enumerate(bins) if b.block == blk]
        cost = lambda h: sum(w[i] * hw.hops(got.bin_core[i], h) for i in idx)  # noqa: E731
        assert cost(got.block_host[blk]) == pytest.approx(min(cost(h) for h in range(hw.cores)))


def test_placement_beats_row_major_on_a_big_model():
    hw = HardwareSpec.load("large")
    from snncompile.backends.accum.lowering import build_mapping
    m = build_mapping(build_graph(PUBLIC_CONFIGS["mamba2-130m"].replace(spiking=True)), hw)
    assert m.estimate["optimized"]["hops"] < 0.5 * m.estimate["row_major"]["hops"]
    assert m.estimate["cores_used"] == len({c for lm in m.layers for c in lm.tile_cores})


def test_lower_program_and_folder_round_trip(tmp_path, spiking_config):
    g = build_graph(spiking_config, random_state_dict(spiking_config, 0))
    prog = get_backend("accum").lower(g, TINY, source="test")
    assert isinstance(get_backend("accum"), AccumBackend)
    prog.graph.verify()
    for n in prog.graph.nodes:
        if n.op_type == "SpikedLinear":
            w = prog.graph.params[n.params["weight"]]
            assert n.op.weight_bits == 8 and w.dtype == np.int8
            wt = prog.weight_t(n.name)
            assert wt.flags.c_contiguous and wt.shape == (n.op.d_in, n.op.d_out)
            assert np.shares_memory(wt, w)  # input-major storage, no second copy
            lm = prog.mapping.layer(n.name)
            assert lm.R * lm.C > 1
    out = tmp_path / "prog"
    prog.save(out)
    assert sorted(p.name for p in out.iterdir()) >= sorted(
        ["graph.onnx", "hardware.toml", "mapping.json", "program.json"])
    back = Program.load(out)
    assert back.hardware == prog.hardware and back.mapping == prog.mapping
    assert back.source == "test"
    for name, arr in prog.graph.params.items():
        np.testing.assert_array_equal(back.graph.params[name], arr)
    for n in back.graph.nodes:
        if n.op_type == "SpikedLinear":
            assert back.weight_t(n.name).flags.c_contiguous
    # saving again replaces the folder atomically; a failing save leaving the old one intact
    # is checked for every backend in tests/conformance
    prog.save(out)
    assert Program.load(out).mapping == prog.mapping


def test_program_load_errors(tmp_path, spiking_config):
    with pytest.raises(SimulationError, match="no such directory"):
        Program.load(tmp_path / "nope")
    g = build_graph(spiking_config, random_state_dict(spiking_config, 0))
    prog = AccumBackend().lower(g, "default")
    out = prog.save(tmp_path / "p")
    (out / "mapping.json").write_text("{")
    with pytest.raises(SimulationError, match="mapping.json"):
        Program.load(out)
    prog.save(out)
    m = json.loads((out / "mapping.json").read_text())
    m["layers"][0]["tile_cores"] = [999]
    (out / "mapping.json").write_text(json.dumps(m))
    with pytest.raises(HardwareFitError, match="999"):
        Program.load(out)
    prog.save(out)
    (out / "hardware.toml").unlink()
    with pytest.raises(SimulationError, match="hardware.toml"):
        Program.load(out)


def test_lower_fit_error_and_bits_mismatch(spiking_config):
    g = build_graph(spiking_config, random_state_dict(spiking_config, 0))
    with pytest.raises(HardwareFitError, match=r"layers\.1\.in_proj"):
        AccumBackend().lower(g, "small")
    from snncompile.passes import quantize_weights
    q = quantize_weights.run(g, bits=8).graph
    with pytest.raises(HardwareFitError, match="8-bit"):
        AccumBackend().lower(q, _hw("default", weight_bits=4))
    p4 = AccumBackend().lower(g, _hw("default", weight_bits=4))
    w = p4.graph.params[p4.graph.node("layers.0.in_proj").params["weight"]]
    assert np.abs(w).max() == 7


def test_mapping_report_and_traffic(spiking_config):
    g = build_graph(spiking_config, random_state_dict(spiking_config, 0))
    prog = AccumBackend().lower(g, TINY)
    rep = mapping_report(prog)
    assert rep["cores_used"] == len({c for lm in prog.mapping.layers for c in lm.tile_cores})
    assert rep["utilization"]["weight_bytes"] == sum(
        prog.graph.params[n.params["weight"]].size for n in prog.graph.nodes
        if n.op_type == "SpikedLinear")
    assert all(c["neurons"] <= TINY.neurons_per_core for c in rep["per_core"])
    assert rep["traffic_estimate"]["messages_per_token"] > 0
    json.dumps(rep)
    est = estimate_traffic(prog.mapping.layers, prog.mapping.hosts, TINY, prog.mapping.rate)
    assert est["messages"] <= rep["traffic_estimate"]["messages_per_token"]
