"""Make a venv that holds the ROS 2 PyPI wheels usable as a ROS prefix without sourcing anything.

Run with the venv's interpreter after (re)installing ros-* wheels. Idempotent.

1. The wheels' CMake exports name the wheel builder's interpreter paths
   (/opt/python/cp311-cp311/...); rewrite them to this interpreter's include dir and NumPy's.
   Fails loudly if any /opt/python path is left.
2. Install a .pth that prepends the venv to AMENT_PREFIX_PATH at interpreter start-up, so
   ament_index_python finds the packages in the venv.
"""
import os
import pathlib
import sys
import sysconfig

import numpy

BUILDER = "/opt/python/cp311-cp311"
PTH_NAME = "zz_unsup_tracker_ament_prefix.pth"
PTH_LINE = (
    "import os, sys; "
    "_p = [x for x in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) "
    "if x and x != sys.prefix]; "
    "os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join([sys.prefix] + _p)\n"
)


def main() -> int:
    venv = pathlib.Path(sys.prefix)
    if venv == pathlib.Path(sys.base_prefix):
        print("fix_ros_prefix: must run with the venv's python", file=sys.stderr)
        return 2
    replacements = {
        BUILDER + "/include/python3.11": sysconfig.get_paths()["include"],
        BUILDER + "/lib/python3.11/site-packages/numpy/_core/include": numpy.get_include(),
        BUILDER + "/lib/python3.11/site-packages/numpy/core/include": numpy.get_include(),
    }
    for target in replacements.values():
        if not os.path.isdir(target):
            print(f"fix_ros_prefix: {target} does not exist", file=sys.stderr)
            return 1
    changed, left = 0, []
    for path in sorted((venv / "share").glob("*/cmake/*.cmake")):
        text = path.read_text(errors="surrogateescape")
        if BUILDER not in text:
            continue
        # longest first so the numpy paths are not cut by a shorter prefix
        for old in sorted(replacements, key=len, reverse=True):
            text = text.replace(old, replacements[old])
        path.write_text(text, errors="surrogateescape")
        changed += 1
        if "/opt/python" in text:
            left.append(str(path))
    if left:
        print("fix_ros_prefix: /opt/python paths remain in:\n  " + "\n  ".join(left),
              file=sys.stderr)
        return 1
    site = pathlib.Path(sysconfig.get_paths()["purelib"])
    pth = site / PTH_NAME
    if not pth.exists() or pth.read_text() != PTH_LINE:
        pth.write_text(PTH_LINE)
    print(f"fix_ros_prefix: rewrote {changed} CMake export file(s); {pth.name} in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
