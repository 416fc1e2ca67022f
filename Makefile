# Set-up and entry points. `make demo` and `make test` each create the virtual environment
# (.venv, pinned requirements) on first use, so on a fresh machine they are all you need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo train-demo test lint benchmark soak gpu-train gpu-check clean

demo: $(STAMP)
	$(PY) -m tools.demo

train-demo: $(STAMP)
	$(PY) -m training demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q test

lint: $(STAMP)
	$(PY) -m flake8 mtg_grasp_ros simulation training test tools setup.py launch

# Training and raw inference speed, then the node: per stage in one process, and end to end
# through ROS 2 in three processes (camera, node, subscriber) at 30 and 60 Hz.
benchmark: $(STAMP)
	$(PY) -m training benchmark
	$(PY) -m tools.stage_benchmark
	$(PY) -m tools.ros_benchmark --seconds 20 --rates 30 60

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
	rm -rf $(VENV) build install log runs
