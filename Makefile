# Involution Course: set-up, the course run and the tests.
#   make course            set up .venv and run every solution notebook (PROFILE=quick|full|grading)
#   make test              run the test suite
#   make release           regenerate notebooks/ from solutions/
#   make lab               open JupyterLab on the student notebooks
#   make bench             run the benchmarks and write build/bench/
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
DATA ?= $(if $(INVOLUTION_COURSE_DATA),$(INVOLUTION_COURSE_DATA),$(wildcard ../shared/data/cifar10-jpeg.tar.gz))
export INVOLUTION_COURSE_DATA := $(if $(DATA),$(abspath $(DATA)))

.PHONY: setup course test release lab bench clean

# requirements.txt pins what the tests run with (Python 3.11+); older Pythons get the ranges of pyproject.toml.
PINNED := $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info >= (3, 11)))' 2>/dev/null)

$(VENV)/.installed: src/student/pyproject.toml src/instructor/pyproject.toml requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "The course needs Python 3.10 or newer: set PYTHON=python3.X")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
ifeq ($(PINNED),1)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e src/student -e src/instructor
else
	$(PY) -m pip install --quiet -e src/student -e "src/instructor[dev]"
endif
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

course: setup
	INVOLUTION_COURSE_PROFILE=$(PROFILE) $(PY) -m involution_instructor course

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

release: setup
	$(PY) -m involution_instructor release

lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

bench: setup
	$(PY) -m involution_instructor bench $(BENCH_ARGS)

clean:
	rm -rf build/ .pytest_cache
