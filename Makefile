# The two commands of the README:
#   make book   builds the website into _build/html and prints the page to open
#   make test   runs every check: ruff, the library's tests, the website build and its browser
#               test, the benchmarks' smoke run, and every notebook through nbval
# Both create .venv when it is missing. On a machine without an NVIDIA GPU the CPU build of
# torch is installed first (small, and what the book needs); with a GPU, pip picks the CUDA build.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch that is installed where there is no NVIDIA GPU: the version Binder pins
# in .binder/requirements.txt, the one place that names it (CI runs make, so it uses it too).
TORCH_VERSION ?= $(shell sed -n 's/^torch==\([^ ;]*\).*/\1/p' .binder/requirements.txt)
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# One worker per core, at most 4; each notebook gets one torch thread so workers do not fight.
JOBS ?= $(shell $(PYTHON) -c "import os; print(min(4, os.cpu_count() or 1))")
STAMP := $(VENV)/.installed

.PHONY: venv book test lint test-lib test-notebooks strip clean bench seeds wheel exercises

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml .binder/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -c "import torch" 2>/dev/null; then \
	    echo "torch already installed: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	    echo "NVIDIA GPU found: pip will install a CUDA build of torch"; \
	else \
	    echo "No NVIDIA GPU: installing the CPU build of torch $(TORCH_VERSION)"; \
	    $(PY) -m pip install --retries 0 --timeout 10 \
	        --extra-index-url $(TORCH_CPU_INDEX) "torch==$(TORCH_VERSION)"; \
	fi
	$(PY) -m pip install -r requirements-dev.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# Executions are cached in _build/.jupyter_cache. book/_ext/execution_cache.py empties that cache
# when the library, the requirements or the installed packages change (jupyter-cache itself only
# notices a notebook's own code), and runs the notebooks that need it JOBS at a time.
book: $(STAMP)
	rm -rf _build/html _build/jupyter_execute
	BOOK_JOBS=$(JOBS) TRANSFORMER_LIB_PARTS=none $(VENV)/bin/jupyter-book build . --all -W -n --keep-going
	@echo
	@echo "Open the book: $(abspath _build/html/index.html)"

# ruff on the code and the notebooks (settings in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# ruff first. Then every notebook runs twice: under nbval and in the site build
# (tests/test_site.py); afterwards tests/reproducibility_check.py checks that both runs printed the
# same numbers.
test: $(STAMP) lint
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb
	rm -rf _build/test-runs
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -n $(JOBS) --dist loadfile --nbval-lax tests notebooks
	$(VENV)/bin/pytest -q -p no:xdist tests/reproducibility_check.py

# The library's tests alone: the pytest markers (pyproject.toml) leave out the website build,
# every test that executes a notebook, and the benchmarks' smoke run.
test-lib: $(STAMP)
	$(VENV)/bin/pytest -n $(JOBS) -m "not site and not notebooks and not slow" tests

test-notebooks: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -n $(JOBS) --dist loadfile --nbval-lax notebooks

# The exercise versions a self-learner opens (committed; tests/test_coursework.py fails when they
# are out of date): each chapter with its solutions replaced by stubs.
exercises: $(STAMP)
	rm -rf exercises
	$(PY) -m transformer_lib.coursework student notebooks -o exercises

strip: $(STAMP)
	$(VENV)/bin/nbstripout notebooks/*.ipynb

clean:
	rm -rf _build .pytest_cache build dist

# The library alone, as one file to hand to students: no notebooks, so no solutions (the
# instructors' page, book/instructors.md, says how students install it).
wheel: $(STAMP)
	rm -rf build dist
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	rm -rf build
	@echo "Hand out: $$(ls dist/*.whl)"

# Benchmarks (benchmarks/README.md): what each chapter costs to run, and transformer_lib against
# PyTorch's own modules. `make bench` writes benchmarks/results/, which the book's appendix page
# "What it costs to run" (book/costs.md) includes; `make bench QUICK=1` is the smoke run, written
# to _build/bench-quick/ (its numbers are not measurements).
bench: $(STAMP)
	$(PY) -m benchmarks.run $(if $(QUICK),--quick)

# The seed spreads the chapters quote (benchmarks/seeds.py): every chapter's experiment over 3
# seeds, into benchmarks/results/seeds_chNN.md, which the chapters include. CHAPTERS=ch09 for one.
seeds: $(STAMP)
	$(PY) -m benchmarks.seeds $(CHAPTERS)
