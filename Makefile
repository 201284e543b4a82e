# Involution Course: set-up, the course run and the tests.
#   make course            set up .venv and run every solution notebook (PROFILE=quick|full|grading)
#   make test              run the test suite
#   make release           regenerate notebooks/ from solutions/
#   make lab               open JupyterLab on the student notebooks
#   make bench             run the benchmarks and write build/bench/
#   make site              build the course site into build/site/ (EDITION=instructor: the answer key, not for publication)
#   make checkpoints       ship the experiment's seed-0 weights (results/, build/experiment-weights/) with the student package
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
DATA ?= $(if $(INVOLUTION_COURSE_DATA),$(INVOLUTION_COURSE_DATA),$(wildcard ../shared/data/cifar10-jpeg.tar.gz))
export INVOLUTION_COURSE_DATA := $(if $(DATA),$(abspath $(DATA)))

.PHONY: setup course test release lab bench checkpoints site clean

# requirements.txt pins what the tests run with (Python 3.11+); older Pythons get the ranges of the pyproject files.
PINNED := $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info >= (3, 11)))' 2>/dev/null)
ifeq ($(PINNED),1)
INSTALL = $(PY) -m pip install -r requirements.txt && $(PY) -m pip install --no-deps -e src/student -e src/instructor
else
INSTALL = $(PY) -m pip install -e src/student -e "src/instructor[dev]"
endif

$(VENV)/.installed: src/student/pyproject.toml src/instructor/pyproject.toml requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "The course needs Python 3.10 or newer: set PYTHON=python3.X")'
	@echo "Setting up $(VENV) (a few minutes the first time; the log goes to $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@( $(PY) -m pip install --upgrade pip && \
	   $(INSTALL) && \
	   $(PY) -m ipykernel install --sys-prefix --name python3 ) > $(VENV)/install.log 2>&1 \
	 || { tail -n 40 $(VENV)/install.log; echo "Set-up failed: the whole log is in $(VENV)/install.log"; exit 1; }
	@touch $@

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

# The weights come from a GPU run of the experiment through Keras' JAX backend:
#   KERAS_BACKEND=jax involution-instructor experiment --jobs 4 --weights build/experiment-weights
# (results/*.json record each run's command); this step copies them and writes the manifest.
checkpoints: setup
	$(PY) -m involution_instructor checkpoints --results results --weights build/experiment-weights

# The student edition (to publish) in SITE_DIR; EDITION=instructor writes the answer key, the solution
# notebooks executed under the quick profile, into SITE_INSTRUCTOR_DIR instead, and only then.
EDITION ?= student
SITE_DIR ?= build/site
SITE_INSTRUCTOR_DIR ?= build/site-instructor
site: setup
	$(PY) -m involution_instructor site $(if $(filter instructor,$(EDITION)),--edition instructor --output $(SITE_INSTRUCTOR_DIR),--output $(SITE_DIR))

clean:
	rm -rf build/ .pytest_cache
