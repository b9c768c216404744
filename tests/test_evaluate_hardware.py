"""Quality on the hardware (issue 12, part 5): `snncompile evaluate` on a checkpoint, an
exported model.onnx and a lowered prog/ (reference and simulator), in one report with
firing rates and energy per token; bad inputs exit 2 with one line.

One tiny calibrated student (d_model 32, 2 layers, byte vocabulary) is saved, exported and
lowered once per module."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.models.checkpoint import save_checkpoint

BYTES = ["--bytes", "129", "--seq-len", "32", "--tokens", "4"]   # 4 windows, 128 predicted


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def doc_of(res) -> dict:
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def one_line_error(res, *needles):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert "Traceback" not in res.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory, calibrated_student):
    from snncompile.export import export_checkpoint

    root = tmp_path_factory.mktemp("evhw")
    save_checkpoint(calibrated_student(0), root / "ckpt")
    export_checkpoint(root / "ckpt", root / "model.onnx")
    for name, args in (("prog", []), ("prog_graded", ["--encoding", "graded"]),
                       ("prog_ref", ["--backend", "reference"])):
        res = cli("lower", root / "model.onnx", "-o", root / name, *args)
        assert res.exit_code == 0, res.output
    return root


@pytest.fixture(scope="module")
def docs(built):
    """The JSON report of every form (computed once)."""
    r = built
    return {
        "ckpt": doc_of(cli("evaluate", r / "ckpt", "--json", *BYTES)),
        "onnx": doc_of(cli("evaluate", r / "model.onnx", "--json", *BYTES)),
        "sim": doc_of(cli("evaluate", r / "prog", "--json", "--table", "paper-45nm",
                          "--table", "accum", *BYTES)),
        "ref": doc_of(cli("evaluate", r / "prog", "--executor", "reference", "--json",
                          "--table", "paper-45nm", "--table", "accum", *BYTES)),
        "graded": doc_of(cli("evaluate", r / "prog_graded", "--json", *BYTES)),
        "prog_ref": doc_of(cli("evaluate", r / "prog_ref", "--json", *BYTES)),
    }


def test_every_form_reports_one_document(docs):
    for key, kind, executor in (("ckpt", "checkpoint", "pytorch"), ("onnx", "onnx", "reference"),
                                ("sim", "program", "simulator"), ("ref", "program", "reference"),
                                ("graded", "program", "simulator"),
                                ("prog_ref", "program", "reference")):
        d = docs[key]
        assert d["format"] == "snncompile-evaluate/2"
        assert (d["kind"], d["executor"]) == (kind, executor), key
        assert d["n_bytes"] == 128 and d["tokens"] == 128 and d["seq_len"] == 32
        assert math.isfinite(d["bpb"]) and 0 < d["bpb"] < 16
        # byte tokens: perplexity = 2^bpb
        assert d["perplexity"] == pytest.approx(2 ** d["bpb"], rel=1e-12)
        assert d["spiking"] is True
        assert set(d["neuron_firing_rates"]) == {f"layers.{i}.{p}_proj_spike"
                                                 for i in (0, 1) for p in ("in", "out")}
        assert set(d["block_firing_rates"]) == {"0", "1"}
        assert 0 < d["firing_rate"] < 1
        assert d["energy"][0]["preset"] == "paper-45nm"
        e = d["energy"][0]
        assert e["per_token"]["snn_j"]["total"] > 0 and e["per_token"]["ann_j"]["total"] > 0
        assert e["ratio"] > 0
        assert "greedy" in d["samples"]
    assert docs["sim"]["hardware"] == "generic-1chip"
    assert docs["sim"]["energy"][0]["mode"] == "measured"
    assert docs["ref"]["energy"][0]["mode"] == "analytic"
    assert docs["ckpt"]["energy"][0]["mode"] == "analytic"
    assert [e["preset"] for e in docs["sim"]["energy"]] == ["paper-45nm", "accum"]
    # the simulator decodes greedily only; the reference also samples
    assert set(docs["sim"]["samples"]) == {"greedy"}
    assert set(docs["ref"]["samples"]) == {"greedy", "temperature=0.8"}


def test_float_forms_agree_and_int8_is_measured(docs):
    ck, ox, sim, ref = docs["ckpt"], docs["onnx"], docs["sim"], docs["ref"]
    # the exported float graph is the checkpoint (float64 interpreter vs float32 torch)
    assert ox["bpb"] == pytest.approx(ck["bpb"], rel=1e-4)
    for k, v in ck["neuron_firing_rates"].items():
        assert ox["neuron_firing_rates"][k] == pytest.approx(v, abs=2e-3)
    # the simulator is bit-exact against the reference on the same lowered program
    assert sim["bpb"] == pytest.approx(ref["bpb"], rel=1e-9)
    assert sim["neuron_firing_rates"] == ref["neuron_firing_rates"]
    assert sim["samples"]["greedy"] == ref["samples"]["greedy"]
    # a reference-backend program is the float graph: the same figures as model.onnx
    assert docs["prog_ref"]["bpb"] == pytest.approx(ox["bpb"], rel=1e-12)
    # int8 changes the figure (its cost is what the report makes visible)
    assert sim["bpb"] != ox["bpb"]
    # graded spikes: the same levels, rates counted as sum |s| (not as events)
    assert docs["graded"]["bpb"] == pytest.approx(sim["bpb"], rel=1e-9)
    assert docs["graded"]["neuron_firing_rates"] == sim["neuron_firing_rates"]


def test_paper_table_energy_agrees_across_executors(docs):
    """paper-45nm prices ACs and MACs only: measured (simulator) and analytic-at-measured-rates
    (reference) counters of the same program give the same energy."""
    a = docs["sim"]["energy"][0]["per_token"]["snn_j"]["total"]
    b = docs["ref"]["energy"][0]["per_token"]["snn_j"]["total"]
    assert a == pytest.approx(b, rel=1e-9)


def test_simulator_pass_counts_each_step_once(built):
    """Quality and counters come from one walk: the pass's counters equal fresh simulator runs
    of each window, added up, and its logits give the same bpb as scoring those runs."""
    from snncompile.backends import load_program
    from snncompile.data.corpus import eval_windows, load_split
    from snncompile.simulator import Simulator
    from snncompile.sweep.quality import evaluate_graph

    prog = load_program(built / "prog")
    windows = eval_windows(load_split().val, 16, 49).numpy()   # 3 windows of 16
    ev = evaluate_graph(prog.graph, windows, "simulator", program=prog)
    acs = cycles = 0
    nll = 0.0
    for w in windows:
        sim = Simulator(prog)
        logits = sim.run([int(t) for t in w[:-1]])
        acs += sim.counters.total("acs")
        cycles += sim.counters.total("cycles")
        for z, tgt in zip(logits, w[1:]):
            z = z[:256]
            nll += float(np.log(np.exp(z - z.max()).sum()) + z.max() - z[tgt])
    assert ev.counters.tokens == 48
    assert ev.counters.total("acs") == acs and ev.counters.total("cycles") == cycles
    assert ev.result.bpb == pytest.approx(nll / 48 / math.log(2), rel=1e-12)


def test_table_output_and_default_table(built):
    res = cli("evaluate", built / "prog", *BYTES)
    assert res.exit_code == 0, res.output
    for needle in ("validation bpb", "token perplexity", "firing rate block 1",
                   "energy per token, paper-45nm", "simulator", "greedy"):
        assert needle in res.output, needle


def test_bad_inputs_exit_2_one_line(built, tmp_path, spiking_config):
    r = built
    foreign = tmp_path / "model.onnx"
    foreign.write_bytes(b"this is not an onnx file\n" * 4)
    one_line_error(cli("evaluate", foreign, *BYTES))
    one_line_error(cli("evaluate", tmp_path / "missing.onnx", *BYTES), "does not exist")
    one_line_error(cli("evaluate", r / "model.onnx", "--executor", "simulator", *BYTES),
                   "lower")
    one_line_error(cli("evaluate", r / "ckpt", "--executor", "reference", *BYTES),
                   "PyTorch")
    one_line_error(cli("evaluate", r / "prog_ref", "--executor", "simulator", *BYTES),
                   "reference program")
    one_line_error(cli("evaluate", r / "prog", "--table", "no-such-table", *BYTES))
    # a program built for a model whose vocabulary is not the byte vocabulary
    from snncompile.frontend import build_graph
    from snncompile.frontend.synthetic import random_state_dict
    from snncompile.ir import serde

    small = tmp_path / "v64.onnx"
    serde.save(build_graph(spiking_config, random_state_dict(spiking_config, 0)), small)
    assert cli("lower", small, "-o", tmp_path / "v64").exit_code == 0
    one_line_error(cli("evaluate", tmp_path / "v64", *BYTES), "64")
    one_line_error(cli("evaluate", small, *BYTES), "64")
    # a program folder whose graph was swapped for another model's: refused by its hashes
    swapped = tmp_path / "swapped"
    shutil.copytree(r / "prog", swapped)
    shutil.copy(tmp_path / "v64" / "graph.onnx", swapped / "graph.onnx")
    one_line_error(cli("evaluate", swapped, *BYTES), "graph.onnx")


# -- a model with its own tokenizer ----------------------------------------------------------
def _train_bpe(vocab_size: int = 300):
    """A byte-level BPE tokenizer trained here on a few sentences (deterministic, no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = ["Return the value of the attribute, or raise an error if it is missing.",
             "The object is a sequence of bytes; the module reads and writes files."] * 20
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


def test_tokenizer_model_bits_per_byte_count_text_bytes(tmp_path):
    """A BPE model (the tokenizer carried by its checkpoint, export and program): every form
    scores the same validation tokens; bits per byte divide by the bytes of text the predicted
    tokens stand for, perplexity is per token."""
    import torch

    from snncompile.data.token_corpus import load_token_split
    from snncompile.data.corpus import eval_windows, load_text
    from snncompile.data.tokenizer import load_tokenizer, token_byte_lengths
    from snncompile.models.config import NeuronConfig, SpikingMambaConfig
    from snncompile.models.lm import SpikingMambaLM

    _train_bpe().save(str(tmp_path / "tokenizer.json"))
    tok = load_tokenizer(tmp_path / "tokenizer.json")
    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=tok.vocab_size, d_state=8,
                             headdim=16, spiking=True, neuron=NeuronConfig(theta=0.5))
    torch.manual_seed(0)
    save_checkpoint(SpikingMambaLM(cfg), tmp_path / "ck")
    shutil.copy(tmp_path / "tokenizer.json", tmp_path / "ck" / "tokenizer.json")
    assert cli("export", tmp_path / "ck", "-o", tmp_path / "m.onnx").exit_code == 0
    assert cli("lower", tmp_path / "m.onnx", "-o", tmp_path / "p").exit_code == 0
    # a token corpus of the first 300 kB of the bundled text (enough tokens for the split)
    (tmp_path / "text.txt").write_text(load_text()[:300_000])
    res = cli("data", "tokenize", tmp_path / "text.txt", "--tokenizer",
              tmp_path / "tokenizer.json", "-o", tmp_path / "corpus")
    assert res.exit_code == 0, res.output
    args = ["--bytes", "65", "--seq-len", "32", "--tokens", "3", "--json",
            "--corpus", tmp_path / "corpus"]
    ck = doc_of(cli("evaluate", tmp_path / "ck", *args))
    ox = doc_of(cli("evaluate", tmp_path / "m.onnx", *args))
    sim = doc_of(cli("evaluate", tmp_path / "p", *args))
    ref = doc_of(cli("evaluate", tmp_path / "p", "--executor", "reference", *args))
    # the validation tokens the command scored, and the bytes of text they stand for
    val = load_token_split(tmp_path / "corpus", tok)[0].val
    w = eval_windows(val, 32, 65).numpy()
    text_bytes = int(token_byte_lengths(tok)[w[:, 1:]].sum())
    assert text_bytes > 64  # BPE tokens stand for more than one byte on average
    for d in (ck, ox, sim, ref):
        assert d["tokenizer"]["vocab_size"] == tok.vocab_size
        assert d["n_tokens"] == 64 and d["n_bytes"] == text_bytes
        nats = math.log(d["perplexity"]) * d["n_tokens"]
        assert d["bpb"] == pytest.approx(nats / math.log(2) / text_bytes, rel=1e-9)
    assert ox["bpb"] == pytest.approx(ck["bpb"], rel=1e-4)
    assert sim["bpb"] == pytest.approx(ref["bpb"], rel=1e-9)
    # the sample prompt is tokenized by the carried tokenizer, its ids reported
    assert sim["prompt_ids"] == tok.encode(sim["prompt"])
