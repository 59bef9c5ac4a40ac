# The course's two commands:
#   make lab    set up the environment if it is missing, then open JupyterLab on the course
#   make test   set up the environment if it is missing, then run the whole test suite
# Other targets are for maintainers (see README.md).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to run as root unless told to (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test test-full checkpoints env student-notebooks lint format lock clean-env

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "Python 3.11 is required, found %d.%d: set PYTHON=/path/to/python3.11" % v)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

env: $(STAMP)

# LAB_ARGS passes extra options, e.g. make lab LAB_ARGS="--no-browser --port=8890"
lab: $(STAMP)
	$(BIN)/python -m jupyterlab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every solution notebook in full mode (what a student gets), with each one's time at the end;
# the goal is under 5 minutes each.
test-full: $(STAMP)
	COURSE_FAST=0 COURSE_SUITE_LIMIT_S=7200 $(BIN)/python -m pytest solutions $(PYTEST_ARGS)

# Retrain every registered checkpoint from its record (data/checkpoints/registry.toml), one
# after the other; NAMES="a b" retrains only those.
checkpoints: $(STAMP)
	$(BIN)/python -m course_utils.checkpoints retrain $(NAMES)

# Regenerate notebooks/ from solutions/ (the tests fail when they are out of date).
student-notebooks: $(STAMP)
	$(BIN)/python -m course_utils.student_notebooks

# The paths checked are listed once, in tests/test_lint.py.
lint: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_lint.py

format: $(STAMP)
	$(BIN)/ruff format course_utils tests solutions/challenge
	$(BIN)/ruff check --fix course_utils tests solutions notebooks

# Re-pin every transitive dependency after changing pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^course-utils' > constraints.txt

clean-env:
	rm -rf $(VENV)
