# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and are safe to rerun.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

LAVA_VENV := .venv-lava
# lava-nc 0.10.0 supports only Python 3.10: it runs unmodified in its own venv, driven by ours.
PYTHON310 ?= $(shell command -v pyenv >/dev/null 2>&1 && test -x "$$(pyenv root)/versions/3.10.13/bin/python3.10" && echo "$$(pyenv root)/versions/3.10.13/bin/python3.10" || echo python3.10)

.PHONY: install install-test install-lava lint-imports demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

# torch is pinned to the CPU wheel first, so nothing below can pull a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# mamba-ssm on CPU: only its pure-torch references and checkpoint format are used (tests).
$(VENV)/.installed-mamba: $(VENV)/.installed
	$(BIN)/pip install -q packaging ninja einops
	MAMBA_FORCE_BUILD=TRUE MAMBA_SKIP_CUDA_BUILD=TRUE $(BIN)/pip install -q --no-build-isolation mamba-ssm==2.3.2.post1
	# Norse (a NIR client for tests/test_nir_norse.py): its declared dependencies would pull
	# another torch, so it is installed alone, built against the pinned one.
	$(BIN)/pip download -q --no-deps norse==1.1.0 -d build/norse
	$(BIN)/pip install -q --no-deps --no-build-isolation build/norse/norse-1.1.0.tar.gz
	$(BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $@

$(LAVA_VENV)/.installed:
	$(PYTHON310) -m venv $(LAVA_VENV)
	$(LAVA_VENV)/bin/pip install -q lava-nc==0.10.0
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-mamba $(LAVA_VENV)/.installed
install-lava: $(LAVA_VENV)/.installed

demo: install
	$(BIN)/snncompile demo -o $(OUT)

# Import layering: the contracts in pyproject.toml [tool.importlinter], checked before the tests.
# backends/, simulator/ and energy/ join snncompile through package-dir when installed; the
# symlinks snncompile/backends, snncompile/simulator and snncompile/energy show the same layout
# to import-linter, so plain `lint-imports` from the repository root reads the whole package.
lint-imports: install
	$(BIN)/lint-imports --no-cache

test: install-test lint-imports
	$(BIN)/python -m pytest -q

# The fuzzing and property suite (tests/fuzz) at full size: 10,000 cases per fuzzer (CI runs
# the default few hundred inside `make test`). Figures per fuzzer at the end, and in out/fuzz.json.
FUZZ_CASES ?= 10000
.PHONY: fuzz
fuzz: install
	mkdir -p out
	SNNCOMPILE_FUZZ_CASES=$(FUZZ_CASES) SNNCOMPILE_FUZZ_REPORT=out/fuzz.json \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

# SANA-FE (GPL-3) is only run by benchmarks/sanafe_compare.py as a peer, never imported by snncompile.
bench: install-test
	$(BIN)/pip install -q sanafe==2.2.9
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(LAVA_VENV) out
