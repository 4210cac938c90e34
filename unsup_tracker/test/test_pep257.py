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

ament_pep257's default ("ament") convention checks every pydocstyle code except D100-D107
(missing docstrings), D203 and D212 and D404. We also leave out D213 ("summary on the second
line"), which the ament convention implies: the package's docstrings start the summary on the
first line (PEP 257's own examples do). Both tests use the same list, so they agree.
"""
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent
IGNORED = ("D100", "D101", "D102", "D103", "D104", "D105", "D106", "D107",
           "D203", "D212", "D213", "D404")


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    main = pytest.importorskip(
        "ament_pep257.main", reason="ament_pep257 is not installed (ROS installs only; "
        "test_pydocstyle runs the same check)").main
    rc = main(argv=[str(PACKAGE_DIR), str(PACKAGE_DIR / "test"), "--ignore", *IGNORED])
    assert rc == 0, 'Found code style errors / warnings'


@pytest.mark.linter
@pytest.mark.pep257
def test_pydocstyle():
    # pydocstyle is installed by make setup: a missing one fails here rather than skipping.
    proc = subprocess.run(
        [sys.executable, "-m", "pydocstyle", "--ignore=" + ",".join(IGNORED),
         # ament_pep257 exempts no decorator from the imperative-mood check; nor do we.
         "--property-decorators=",
         r"--match=.*\.py", r"--match-dir=(?!(build|install|log|__pycache__)$)[^\.].*", "."],
        cwd=PACKAGE_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, "pydocstyle found docstring errors:\n" + proc.stdout + proc.stderr
