"""energy.rates_from_neurons: a model's per-neuron rates map onto the graph's spiked nodes."""

import pytest

from snncompile.energy import analytic_counters, rates_from_neurons, spiking_graph
from snncompile.errors import ConfigError

RATES = {f"backbone.layers.{i}.mixer.{p}_neuron": 0.1 * (i + 1) + (0.05 if p == "out_proj" else 0)
         for i in range(2) for p in ("in_proj", "out_proj")}


def test_rates_map_to_spiked_nodes_and_set_the_acs(spiking_config):
    graph = spiking_graph(spiking_config)
    rates = rates_from_neurons(graph, RATES)
    assert rates == pytest.approx({"layers.0.in_proj": 0.1, "layers.0.out_proj": 0.15,
                                   "layers.1.in_proj": 0.2, "layers.1.out_proj": 0.25})
    c = {l.name: l for l in analytic_counters(graph, rates=rates).nodes}
    D = spiking_config.neuron.D
    # ACs = d_out * R * d_in * D, computed here from the config by hand
    assert c["layers.1.in_proj"].acs == pytest.approx(
        spiking_config.d_in_proj * 0.2 * spiking_config.d_model * D)
    assert c["layers.0.out_proj"].acs == pytest.approx(
        spiking_config.d_model * 0.15 * spiking_config.d_inner * D)


def test_missing_or_foreign_neuron_is_named(spiking_config):
    graph = spiking_graph(spiking_config)
    partial = dict(RATES)
    partial.pop("backbone.layers.1.mixer.out_proj_neuron")
    with pytest.raises(ConfigError, match="layers.1.out_proj_spike"):
        rates_from_neurons(graph, partial)
    with pytest.raises(ConfigError, match="feeds no spiked node"):
        rates_from_neurons(graph, {**RATES, "backbone.layers.7.mixer.in_proj_neuron": 0.1})
    with pytest.raises(ConfigError, match="not an in_proj/out_proj neuron"):
        rates_from_neurons(graph, {**RATES, "lm_head.neuron": 0.1})
