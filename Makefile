# Two commands run the course: `make lab` (the learner's workspace) and `make test`; `make teach`
# opens the teacher's edition.
# Both create .venv on first use and reinstall when pyproject.toml or the
# constraints file changes. torch is pinned in requirements/constraints.txt
# (the CPU build); the package itself accepts a looser range.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pgcourse-installed
CONSTRAINTS := requirements/constraints.txt
PORT   ?= 8888
# make lab serves the learner's workspace (the student edition, copied once into $(WORK), never
# overwritten); make teach serves the teacher's edition, notebooks/, with every solution.
WORK   ?= work
NOTEBOOK_DIR ?= $(WORK)
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; CI and containers run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
PYTEST_ARGS ?=

.PHONY: install lab teach progress test test-float-path student assignments site bench clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS) .jupyter/jupyter_server_config.json .jupyter/overrides.json .jupyter/page_config.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[lab,test,site,grade]'
	# the project's own Jupyter settings (in the venv, not your home): localhost, no news/update calls
	# nbgrader (the graded release's tool, used from the command line) stays out of the lab: its panels and
	# server extensions are turned off
	mkdir -p $(VENV)/etc/jupyter/labconfig $(VENV)/share/jupyter/lab/settings
	cp .jupyter/jupyter_server_config.json $(VENV)/etc/jupyter/jupyter_server_config.json
	cp .jupyter/page_config.json $(VENV)/etc/jupyter/labconfig/page_config.json
	cp .jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

lab: $(STAMP)
	$(if $(filter $(abspath $(WORK)),$(abspath $(NOTEBOOK_DIR))),$(BIN)/python -m pgcourse workspace --src notebooks --out $(WORK))
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		--ServerApp.root_dir=$(NOTEBOOK_DIR) --LabApp.default_url=/lab/tree/00_welcome.ipynb $(ROOT_FLAG) $(LAB_ARGS)

teach: $(STAMP)
	$(MAKE) --no-print-directory lab NOTEBOOK_DIR=notebooks

progress: $(STAMP)
	$(BIN)/python -m pgcourse progress --work $(WORK)

test: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest tests notebooks --nbval-lax $(PYTEST_ARGS)

# The notebooks and the tests of their training claims again, e.g. under another float path:
#   ATEN_CPU_CAPABILITY=default make test-float-path   (torch's plain C++ kernels instead of AVX2/AVX-512)
test-float-path: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest notebooks --nbval-lax $(PYTEST_ARGS)
	MPLBACKEND=Agg $(BIN)/python -m pytest tests -m claims $(PYTEST_ARGS)

student: $(STAMP)
	$(BIN)/python -m pgcourse student --src notebooks --out build/student

# The graded release for lecturers: an nbgrader course folder, assignments/ (see docs/teaching.md); a rebuild
# replaces its source/ only, and make clean leaves it (it holds the gradebook).
assignments: $(STAMP)
	$(BIN)/python -m pgcourse.grading --src notebooks --out assignments

site: $(STAMP)
	$(BIN)/python -m pgcourse site --src notebooks --out build/site

bench: $(STAMP)
	$(BIN)/python bench/bench_default.py

clean:
	rm -rf $(VENV) build .pytest_cache
