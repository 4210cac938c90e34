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
"""The skip-locally, fail-in-CI helpers of installed.py."""
import pytest

from unsup_tracker import registry

import installed


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("1", True), ("yes", True), ("", False), ("0", False), ("false", False),
    (None, False),
])
def test_ci_is_read_from_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert installed.in_ci() is expected


def test_missing_things_skip_locally_and_fail_in_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("UNSUP_TRACKER_OPENCV_DOC", str(tmp_path / "nowhere"))
    monkeypatch.setenv("UNSUP_TRACKER_WALLPAPERS", str(tmp_path / "nowhere"))
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)  # no shipped checkpoints there
    checks = [installed.require_footage, installed.require_devbench_footage,
              lambda: installed.require_shipped_weights("udt"),
              lambda: installed.shipped_weights_or_untrained("udt")]
    monkeypatch.setenv("CI", "false")
    for check in checks[:3]:
        with pytest.raises(pytest.skip.Exception):
            check()
    assert checks[3]() == "untrained"
    monkeypatch.setenv("CI", "true")
    for check in checks:
        with pytest.raises(pytest.fail.Exception, match="CI must have it"):
            check()
