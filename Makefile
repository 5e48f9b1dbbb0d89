# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.chaoskit-installed

.PHONY: demo demo-compose demo-compose-down images test lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,load]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chaoskit run experiments/quickstart.yaml

# The docker-compose demo stack (docs/containers.md): installs and starts Docker when absent (root), builds the
# images locally, brings the stack up on 127.0.0.1 and waits until it serves.
demo-compose:
	scripts/demo-compose.sh up

demo-compose-down:
	scripts/demo-compose.sh down

images:
	scripts/build-images.sh

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check chaoskit tests targets benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .chaoskit
