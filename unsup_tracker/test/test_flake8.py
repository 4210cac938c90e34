# Copyright 2017 Open Source Robotics Foundation, Inc.
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
"""flake8 on the package: ament_flake8 (ROS installs) and the venv's plain flake8."""
import pathlib
import shutil
import subprocess
import sys

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    main_with_errors = pytest.importorskip(
        "ament_flake8.main", reason="ament_flake8 is not installed (ROS installs only; "
        "test_flake8_venv runs flake8)").main_with_errors
    rc, errors = main_with_errors(argv=[])
    assert rc == 0, \
        'Found %d code style errors / warnings:\n' % len(errors) + \
        '\n'.join(errors)


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8_venv():
    """Plain flake8 with the ament line length (99) over the whole package.

    Runs wherever flake8 is installed (`make setup` installs it), so style errors are caught
    even without ament_flake8. Fix reported errors in the file named, not here.
    """
    if subprocess.run([sys.executable, "-m", "flake8", "--version"],
                      capture_output=True).returncode != 0:
        if shutil.which("flake8") is None:
            pytest.skip("flake8 is not installed")
    proc = subprocess.run(
        [sys.executable, "-m", "flake8", "--max-line-length=99",
         "--extend-exclude=build,install,log,.venv,__pycache__", "."],
        cwd=PACKAGE_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, \
        "flake8 found code style errors:\n" + proc.stdout + proc.stderr
