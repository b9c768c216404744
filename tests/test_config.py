"""SpikingMambaConfig: derived sizes match the public table; config.json round trip; errors."""

import pytest

from snncompile.errors import ConfigError
from snncompile.models.config import PUBLIC_CONFIGS, NeuronConfig, SpikingMambaConfig

# spec section 6: (d_inner, heads, in_proj out, conv_dim)
TABLE = {
    "mamba2-130m": (1536, 24, 3352, 1792),
    "mamba2-370m": (2048, 32, 4384, 2304),
    "mamba2-780m": (3072, 48, 6448, 3328),
    "mamba2-1.3b": (4096, 64, 8512, 4352),
    "mamba2-2.7b": (5120, 80, 10576, 5376),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_public_config_sizes(name):
    c = PUBLIC_CONFIGS[name]
    assert (c.d_inner, c.nheads, c.d_in_proj, c.conv_dim) == TABLE[name]
    assert c.padded_vocab_size == 50288


def test_round_trip_spiking_config():
    c = SpikingMambaConfig(d_model=64, n_layer=3, vocab_size=256, d_state=16, headdim=16,
                           spiking=True, neuron=NeuronConfig(kind="ilif", D=3, theta=0.5),
                           layer_neurons=(None, NeuronConfig(kind="lif"), None),
                           spiked_projections=("out_proj",), sgc=True)
    assert SpikingMambaConfig.from_mamba_ssm_dict(c.to_mamba_ssm_dict()) == c
    assert c.neuron_for(1).kind == "lif" and c.neuron_for(1).D == 1
    assert c.is_spiked("out_proj") and not c.is_spiked("in_proj")


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["ssm_cfg"].update(layer="Mamba1"), "ssm_cfg.layer"),
    (lambda d: d["ssm_cfg"].update(d_ssm=32), "d_ssm"),
    (lambda d: d["ssm_cfg"].update(frobnicate=1), "frobnicate"),
    (lambda d: d.update(d_intermediate=128), "d_intermediate"),
    (lambda d: d.update(d_model=-4), "d_model"),
    (lambda d: d.update(n_layer=True), "n_layer"),
    (lambda d: d.update(ssm_cfg=["layer"]), "ssm_cfg must be an object"),
    (lambda d: d.update(spiking=1), "spiking must be an object"),
    (lambda d: d.update(spiking={"neuron": {"D": True}}), "neuron.D"),
])
def test_bad_config_json_names_the_field(mutate, field):
    d = SpikingMambaConfig(d_model=64, n_layer=2, vocab_size=256, d_state=16,
                           headdim=16).to_mamba_ssm_dict()
    mutate(d)
    with pytest.raises(ConfigError, match=field):
        SpikingMambaConfig.from_mamba_ssm_dict(d)


def test_bad_neuron_kind():
    with pytest.raises(ConfigError, match="neuron.kind"):
        NeuronConfig(kind="izhikevich")
