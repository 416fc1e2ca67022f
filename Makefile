# Set-up and entry points. `make demo` and `make test` each create the virtual environment
# (.venv, pinned requirements) on first use, so on a fresh machine they are all you need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# The ROS 2 packages without PyPI wheels (tf2_ros, cv_bridge, launch, diagnostic_updater, ...),
# built from the sources in ROS_EXTRAS_SRC into ROS_EXTRAS (ignored) by `make ros-extras`.
ROS_EXTRAS_SRC ?= ../shared/ros-extras
ROS_EXTRAS ?= build/ros_extras
# The ROS tests (node over topics, launch, TF, cv_bridge, diagnostics; not the training tests)
# that `make test-jazzy` runs on the ros-jazzy-* wheels.
JAZZY_VENV ?= .venv-jazzy
JAZZY_STAMP := $(JAZZY_VENV)/.installed-stamp
ROS_TESTS ?= test/runtime test/ros_real

.PHONY: demo train-demo test lint benchmark soak gpu-train gpu-check clean ros-extras \
	test-ros-extras test-jazzy closed-loop-demo

demo: $(STAMP)
	$(PY) -m tools.demo

train-demo: $(STAMP)
	$(PY) -m training demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q test

# Build the ROS extras (README "CI and the ROS distributions"; needs root once for apt-get);
# the build script pip-installs opencv-python-headless<5 for cv_bridge: the pinned OpenCV is
# put back (cv_bridge's Python side works with it; test/ros_real checks).
ros-extras: $(STAMP)
	@mkdir -p build && touch build/COLCON_IGNORE
	bash $(ROS_EXTRAS_SRC)/build_ros_extras.sh --venv $(VENV) --prefix $(ROS_EXTRAS) \
	  --work $(ROS_EXTRAS).work
	$(VENV)/bin/pip install --quiet -r requirements.txt

# `make test` with the ROS extras sourced (after `make ros-extras`): test/ros_real runs.
test-ros-extras: $(STAMP)
	. $(ROS_EXTRAS)/setup_ros_extras.sh && $(PY) -m pytest -q test

# The ROS tests on ROS 2 Jazzy: the ros-jazzy-* wheels in their own venv.
test-jazzy: $(JAZZY_STAMP)
	ROS_DISTRO=jazzy $(JAZZY_VENV)/bin/python -m pytest -q $(ROS_TESTS)

$(JAZZY_STAMP): requirements-jazzy.txt
	$(PYTHON) -m venv $(JAZZY_VENV)
	$(JAZZY_VENV)/bin/pip install --quiet --upgrade pip
	$(JAZZY_VENV)/bin/pip install --quiet -r requirements-jazzy.txt
	touch $(JAZZY_VENV)/COLCON_IGNORE
	touch $(JAZZY_STAMP)

lint: $(STAMP)
	$(PY) -m flake8 mtg_grasp_ros simulation training test tools setup.py launch

# Training and raw inference speed, then the node: per stage in one process, and end to end
# through ROS 2 in three processes (camera, node, subscriber) at 30 and 60 Hz.
benchmark: $(STAMP)
	$(PY) -m training benchmark
	$(PY) -m tools.stage_benchmark
	$(PY) -m tools.ros_benchmark --seconds 20 --rates 30 60

# Closed-loop grasping with the wrist camera over ROS 2 (docs/closed_loop.md): needs the ROS
# extras (tf2_ros, vision_msgs; `make ros-extras`). Options: CLOSED_LOOP_ARGS='--object 120'.
CLOSED_LOOP_ARGS ?=
closed-loop-demo: $(STAMP)
	. $(ROS_EXTRAS)/setup_ros_extras.sh && $(PY) -m tools.closed_loop_demo $(CLOSED_LOOP_ARGS)

# 10 minutes at 30 Hz: resident memory growth and latency trend of the node.
soak: $(STAMP)
	$(PY) -m tools.ros_benchmark --seconds 600 --rates 30 --rss --json runs/benchmark/soak.json

# On a GPU machine: the whole model recipe (data with all cores, train on CUDA, held-out
# accuracy, export) in one command, estimated < 10 min (README "Training and benchmarking on
# a GPU"); `python -m training recipe --help` for the settings.
gpu-train: $(STAMP)
	$(PY) -m training recipe --preset gpu --out runs/gpu_recipe

# The node's pipeline on CUDA, per stage and end to end, fp32 / fp16 / bf16 and ONNX Runtime.
gpu-check: $(STAMP)
	$(PY) -m tools.gpu_check --json runs/gpu_check.json

$(STAMP): requirements.txt requirements-ros.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ needed"'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { \
	  echo 'python3-venv is missing; installing it with apt-get'; \
	  apt-get update && apt-get install -y python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	@# colcon must not mistake the ROS wheels' package.xml files for workspace packages.
	touch $(VENV)/COLCON_IGNORE
	touch $(STAMP)

clean:
	rm -rf $(VENV) $(JAZZY_VENV) build install log runs
