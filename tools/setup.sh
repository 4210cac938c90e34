#!/usr/bin/env bash
# Set up unsup_tracker for development, tests and the demo: `make setup` runs this.
#
# Creates .venv (Python 3.11) at the repository root with torch, OpenCV (contrib), the ROS 2 Kilted
# PyPI wheels, our interface packages built into the venv prefix, and unsup_tracker installed
# editable and laid out like `colcon build --symlink-install`. Each step is stamped with a hash of
# its inputs in .venv/.stamps, so a re-run with nothing changed takes a few seconds.
# With a sourced ROS 2 install (ROS_DISTRO set and rclpy importable) the venv sees that install's
# Python packages, and colcon (run by the venv's interpreter, so our executables run with torch)
# builds unsup_tracker_interfaces, unsup_tracker and, only when it is missing, our vision_msgs into
# ./install; `make test`/`make demo` then source install/setup.bash.
#
# Never deletes .venv: other shells may be using it. Environment knobs:
#   PYTHON=python3.11    interpreter to create the venv with (default: python3)
#   UNSUP_TRACKER_TORCH  pip requirement for torch (default: torch==2.13.0 CPU, or plain `torch`
#                        when nvidia-smi works)
#   SKIP_APT=1           do not install Debian's opencv-doc and lomiri-wallpapers-16.04
# More training footage (not needed by the tests): `make data` (tools/data.sh).
set -euo pipefail

TAG=setup
# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # ROOT (the working folder), VENV, PY, STAMPS
BUILD="$ROOT/build/cmake"
# a bootstrap marker inherited from another venv would stop the ROS wheels' re-exec (ros_env.md 2)
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE || true

# ---------------------------------------------------------------- ROS mode
ROS_MODE=wheels
if [ -n "${ROS_DISTRO:-}" ] && "${PYTHON:-python3}" -c 'import rclpy' >/dev/null 2>&1; then
  ROS_MODE=system
fi

# ---------------------------------------------------------------- venv
if [ ! -x "$PY" ]; then
  BASE_PY="${PYTHON:-python3}"
  command -v "$BASE_PY" >/dev/null || die "$BASE_PY not found"
  ver=$("$BASE_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$ROS_MODE" = wheels ] && [ "$ver" != 3.11 ]; then
    die "$BASE_PY is Python $ver; the ROS 2 wheels need Python 3.11 (set PYTHON=python3.11)"
  fi
  log "creating .venv with $BASE_PY ($ver, ROS: $ROS_MODE)"
  if [ "$ROS_MODE" = system ]; then
    # see the sourced ROS install's Python packages (rclpy, message packages) from the venv
    "$BASE_PY" -m venv --system-site-packages "$VENV"
  else
    "$BASE_PY" -m venv "$VENV"
  fi
fi
"$PY" -c 'import sys; assert sys.prefix != sys.base_prefix' || die ".venv/bin/python is not a venv"
# The Makefile reads this to decide whether to source install/setup.bash.
if [ -f "$STAMPS/ros-mode" ] && [ "$(cat "$STAMPS/ros-mode")" != "$ROS_MODE" ]; then
  die ".venv was set up for ROS mode '$(cat "$STAMPS/ros-mode")' but this shell is '$ROS_MODE' \
(a sourced ROS 2 install decides). Run \`make distclean\` and set up again to switch."
fi
stamp_set ros-mode "$ROS_MODE"

# ---------------------------------------------------------------- Python dependencies
if [ -n "${UNSUP_TRACKER_TORCH:-}" ]; then
  TORCH_REQ="$UNSUP_TRACKER_TORCH"
elif nvidia-smi >/dev/null 2>&1; then
  TORCH_REQ="torch"            # a CUDA build from PyPI
else
  TORCH_REQ="torch==2.13.0"    # the CPU wheel on local disk (find-links /opt/wheels)
fi
h=$(hash_of tools/requirements.txt "$TORCH_REQ")
if ! stamp_ok python-deps "$h"; then
  log "pip: $TORCH_REQ + tools/requirements.txt"
  if [ "$ROS_MODE" = system ]; then
    # colcon (from the ROS install) needs setuptools < 80; editable installs need >= 64
    pip install -q "setuptools>=64,<80" wheel
  else
    pip install -q --upgrade setuptools wheel
  fi
  pip install -q "$TORCH_REQ" -r tools/requirements.txt
  stamp_set python-deps "$h"
fi

# ---------------------------------------------------------------- ROS 2
if [ "$ROS_MODE" = wheels ]; then
  h=$(hash_of tools/ros-requirements.txt tools/fix_ros_prefix.py)
  if ! stamp_ok ros-wheels "$h"; then
    log "pip: ROS 2 Kilted wheels (tools/ros-requirements.txt, ~300 MB)"
    pip install -q -r tools/ros-requirements.txt
    "$PY" tools/fix_ros_prefix.py
    stamp_set ros-wheels "$h"
  fi

  # bump when the cmake invocation below changes (so the packages are rebuilt)
  CMAKE_RECIPE="cmake-recipe-1"
  build_iface() { # build_iface <name> <src dir> <extra hash input>: CMake build into the venv
    local name=$1 src=$2 h
    h=$(hash_of "$src" "$CMAKE_RECIPE" "$3")
    if stamp_ok "$name" "$h"; then return 0; fi
    log "building $name into .venv (CMake, ~20-90 s)"
    rm -rf "${BUILD:?}/$name"
    mkdir -p "$BUILD"
    AMENT_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" cmake -S "$src" -B "$BUILD/$name" \
      -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_BUILD_TYPE=Release \
      -DPython3_EXECUTABLE="$PY" -DPython3_FIND_VIRTUALENV=ONLY -DBUILD_TESTING=OFF \
      > "$BUILD/$name.log" 2>&1 \
      && AMENT_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" cmake --build "$BUILD/$name" -j"$(nproc)" \
      >> "$BUILD/$name.log" 2>&1 \
      && cmake --install "$BUILD/$name" >> "$BUILD/$name.log" 2>&1 \
      || { tail -n 40 "$BUILD/$name.log" >&2; die "building $name failed (log: $BUILD/$name.log)"; }
    stamp_set "$name" "$h"
  }

  # vision_msgs: ours only when no other vision_msgs is importable (or we built it before)
  if [ -f "$STAMPS/vision_msgs" ] || ! "$PY" -c 'import vision_msgs.msg' >/dev/null 2>&1; then
    build_iface vision_msgs ros_deps/vision_msgs ""
  fi
  build_iface unsup_tracker_interfaces unsup_tracker_interfaces \
    "$(cat "$STAMPS/vision_msgs" 2>/dev/null || echo external)"
fi

# ---------------------------------------------------------------- unsup_tracker itself
# Editable install (imports come from the repository). The stamp covers what the installed
# metadata depends on: setup.py/setup.cfg and which packages exist.
pkg_list=$(cd unsup_tracker && find unsup_tracker training -name __init__.py 2>/dev/null | LC_ALL=C sort)
h=$(hash_of unsup_tracker/setup.py unsup_tracker/setup.cfg unsup_tracker/package.xml "$pkg_list" \
  tools/install_layout.py)
if ! stamp_ok unsup_tracker "$h"; then
  log "pip install -e unsup_tracker"
  pip install -q --no-deps --no-build-isolation --use-pep517 -e unsup_tracker
  # with a sourced ROS install, colcon lays the package out in ./install instead (below)
  if [ "$ROS_MODE" = wheels ]; then "$PY" tools/install_layout.py "$ROOT/unsup_tracker"; fi
  stamp_set unsup_tracker "$h"
fi

# ---------------------------------------------------------------- colcon (sourced ROS 2 install)
if [ "$ROS_MODE" = system ]; then
  COLCON_PATHS=(unsup_tracker_interfaces unsup_tracker)
  # What the symlinked install depends on (Python sources are linked, so editing them needs no
  # rebuild): the interfaces, unsup_tracker's metadata, packages and data files, our vision_msgs.
  colcon_inputs=(unsup_tracker_interfaces unsup_tracker/setup.py unsup_tracker/setup.cfg
    unsup_tracker/package.xml "$pkg_list" "$(cd unsup_tracker && ls launch config resource)")
  if [ -d build/ros_deps/vision_msgs ] || ! "$PY" -c 'import vision_msgs.msg' >/dev/null 2>&1; then
    # ros_deps/ is COLCON_IGNOREd (a workspace with apt's vision_msgs must not build a second
    # one); build our copy from a scratch copy only because this install lacks it.
    COLCON_PATHS+=(build/ros_deps/vision_msgs)
    colcon_inputs+=(ros_deps/vision_msgs)
  fi
  h=$(hash_of "${colcon_inputs[@]}" "$ROS_DISTRO" "${AMENT_PREFIX_PATH:-}")
  if ! stamp_ok colcon "$h" || [ ! -f install/setup.bash ]; then
    "$PY" -c 'import colcon_core' >/dev/null 2>&1 \
      || die "colcon is not importable: sudo apt-get install python3-colcon-common-extensions"
    if [[ " ${COLCON_PATHS[*]} " == *" build/ros_deps/vision_msgs "* ]]; then
      rm -rf build/ros_deps && mkdir -p build/ros_deps
      cp -r ros_deps/vision_msgs build/ros_deps/vision_msgs
      rm -f build/ros_deps/vision_msgs/COLCON_IGNORE
    fi
    mkdir -p build
    log "colcon build (${COLCON_PATHS[*]}) into ./install with .venv/bin/python"
    "$PY" -m colcon --log-base build/colcon_log build --symlink-install \
      --base-paths "${COLCON_PATHS[@]}" --build-base build/colcon --install-base install \
      --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$PY" \
      > build/colcon.log 2>&1 \
      || { tail -n 40 build/colcon.log >&2; die "colcon build failed (log: build/colcon.log)"; }
    stamp_set colcon "$h"
  fi
fi

# ---------------------------------------------------------------- footage (Debian packages)
# opencv-doc: sample videos and photos (demo, training, development-benchmark targets);
# lomiri-wallpapers-16.04: photographs, development-benchmark backgrounds only (16 MB).
if [ "${SKIP_APT:-0}" != 1 ]; then
  apt_install "sample footage: demo, training, development benchmark" \
    opencv-doc lomiri-wallpapers-16.04 || true
fi

# ---------------------------------------------------------------- check
if [ "$ROS_MODE" = system ]; then
  set +u; source install/setup.bash; set -u
fi
"$PY" - <<'EOF' || die "import check failed"
import cv2, matplotlib, numpy, rosbags, torch, tqdm  # noqa: F401
assert hasattr(cv2, "legacy") and hasattr(cv2.legacy, "TrackerMOSSE_create"), "cv2.legacy missing"
assert hasattr(cv2, "TrackerCSRT_create"), "cv2.TrackerCSRT_create missing"
import rclpy  # noqa: F401
import vision_msgs.msg, unsup_tracker_interfaces.srv  # noqa: F401,E401
from ament_index_python.packages import get_package_share_directory
get_package_share_directory("unsup_tracker")
import unsup_tracker  # noqa: F401
EOF

log "done: .venv ready (ROS: $ROS_MODE)"
