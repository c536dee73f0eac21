# Set-up and entry points. Each target creates .venv (pinned requirements) if it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv ros2-launch demo test clean

venv: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/tools.txt requirements/training.txt requirements/multi-gpu.txt requirements/carla.txt requirements/test.txt setup.py training/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements/test.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e . -e training
	touch $(STAMP)

# `ros2 launch` and `ros2 run` in the venv where no ROS 2 install provides launch_ros: the launch
# wheels built from the official sources (--no-deps: pip must not resolve their names on PyPI).
ROS2_LAUNCH_WHEELS ?= ../shared/ros2-launch-wheels
ros2-launch: $(STAMP)
	@$(BIN)/python -c "import launch_ros" 2>/dev/null || { \
	  test -d "$(ROS2_LAUNCH_WHEELS)" || { echo "ros2-launch: no $(ROS2_LAUNCH_WHEELS) (set ROS2_LAUNCH_WHEELS)" >&2; exit 1; }; \
	  $(BIN)/pip install --disable-pip-version-check -q --no-deps $(ROS2_LAUNCH_WHEELS)/*.whl && \
	  $(BIN)/pip install --disable-pip-version-check -q -r requirements/ros2-launch.txt; }

demo: $(STAMP)
	$(BIN)/evodrive demo --out out/demo

test: $(STAMP)
	$(BIN)/python -m pytest test -q -p no:cacheprovider

clean:
	rm -rf $(VENV) build install log out
