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

import pytest
import torch
from installed import require_footage, require_shipped_weights

from unsup_tracker_training import shipped_data
from unsup_tracker_training.sources import open_sources

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


#: Methods train_shipped.sh can train but whose checkpoint is not shipped (README's method table).
NOT_SHIPPED: dict[str, str] = {}


@pytest.mark.parametrize("method", [
    pytest.param(m, marks=pytest.mark.skip(reason=NOT_SHIPPED[m])) if m in NOT_SHIPPED else m
    for m in sorted(shipped_data.OPENCV_DOC_METHOD_DATA)])
def test_default_footage_is_what_the_shipped_checkpoint_was_trained_on(
        method, tmp_path, monkeypatch):
    """tools/train_shipped.sh's --data (default footage) reads what the checkpoint recorded."""
    require_footage()
    checkpoint = torch.load(require_shipped_weights(method), map_location="cpu",
                            weights_only=True)
    words = checkpoint["meta"]["training_command"].split()
    images_as = words[words.index("--images-as") + 1] if "--images-as" in words else "auto"
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path))  # the photo links go here
    sources = open_sources(shipped_data.data_args(method), images_as=images_as)
    given = [(e["kind"], e["file"], e["num_files"], e["sha256"])
             for e in (source.manifest_entry() for source in sources)]
    recorded = [(e["kind"], e["file"], e["num_files"], e["sha256"])
                for e in checkpoint["meta"]["data_manifest"]]
    assert given == recorded
