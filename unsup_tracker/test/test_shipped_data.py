# Copyright 2026 unsup_tracker developers
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
"""The shipped-data listing and the package names ``make data`` reads (no footage needed)."""
import subprocess
import sys
from pathlib import Path

from unsup_tracker_training import shipped_data

ROOT = Path(__file__).resolve().parents[2]


def test_package_queries_print_the_lists(capsys):
    assert shipped_data.main(["--packages", "debian"]) == 0
    assert capsys.readouterr().out.split() == list(shipped_data.DEBIAN_PACKAGES)
    assert shipped_data.main(["--packages", "pypi"]) == 0
    assert capsys.readouterr().out.split() == list(shipped_data.PYPI_PACKAGES)


def test_listing_names_what_is_missing_and_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UNSUP_TRACKER_PYPI_DATA", str(tmp_path / "nothing"))
    status = shipped_data.main(["--list"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    missing = {line.split()[1] for line in lines if " MISSING: " in line}
    assert {"scikit-image", "scikit-learn"} <= missing
    assert all("run make data" in line for line in lines if " MISSING: " in line
               and line.split()[1] not in shipped_data.SETUP_PACKAGES)
    assert lines[-1].startswith("total: ")


def test_unknown_method_is_refused():
    code = subprocess.run([sys.executable, "-m", "unsup_tracker_training.shipped_data", "x"],
                          capture_output=True, text=True).returncode
    assert code == 2


def test_data_script_is_valid_bash():
    for script in ("tools/data.sh", "tools/lib.sh", "tools/setup.sh", "tools/train_shipped.sh"):
        subprocess.run(["bash", "-n", str(ROOT / script)], check=True)
