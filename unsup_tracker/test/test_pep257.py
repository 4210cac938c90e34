# Copyright 2015 Open Source Robotics Foundation, Inc.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Docstring style: ament_pep257 (ROS installs), else the same check with plain pydocstyle.

ament_pep257's default ("ament") convention is PEP 257 without the missing-docstring codes
(D100-D107) and without D203, D212 and D404; :func:`ament_codes` builds the same selection from
the installed pydocstyle so both runs report the same problems.
"""
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent
AMENT_IGNORED = ("D100", "D101", "D102", "D103", "D104", "D105", "D106", "D107",
                 "D203", "D212", "D404")


def ament_codes():
    """Return the pydocstyle codes ament_pep257's default convention checks."""
    from pydocstyle.violations import conventions  # installed by make setup: never skip

    return sorted(set(conventions.pep257) - set(AMENT_IGNORED))


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    main = pytest.importorskip(
        "ament_pep257.main", reason="ament_pep257 is not installed (ROS installs only; "
        "test_pydocstyle runs the same check)").main
    rc = main(argv=[str(PACKAGE_DIR), str(PACKAGE_DIR / "test")])
    assert rc == 0, 'Found code style errors / warnings'


@pytest.mark.linter
@pytest.mark.pep257
def test_pydocstyle():
    codes = ament_codes()
    assert "D400" in codes and "D102" not in codes
    proc = subprocess.run(
        [sys.executable, "-m", "pydocstyle", "--select=" + ",".join(codes),
         r"--match=.*\.py", r"--match-dir=(?!(build|install|log|__pycache__)$)[^\.].*", "."],
        cwd=PACKAGE_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, "pydocstyle found docstring errors:\n" + proc.stdout + proc.stderr
