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
"""Test-session set-up shared by every test in unsup_tracker/test.

`make test` exports these variables; setting them here too (only where unset) keeps a bare
`pytest` run safe: ROS 2 traffic stays on loopback, parallel runs use different domains, and
ROS logs go to a temporary directory.

Fuzz tests (``test_fuzz_*.py``, hypothesis) run the settings profile named by
``UNSUP_TRACKER_FUZZ_PROFILE``: ``ci`` (default: 50 examples per test, derandomized so a run is
repeatable) or ``fuzz`` (2000 random examples per test; ``make fuzz``).
"""
import os
import random
import tempfile

from hypothesis import HealthCheck, settings

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="unsup_tracker_ros_log_"))

_FUZZ_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                          HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=50, derandomize=True, database=None,
                          **_FUZZ_COMMON)
settings.register_profile("fuzz", max_examples=2000, **_FUZZ_COMMON)
settings.load_profile(os.environ.get("UNSUP_TRACKER_FUZZ_PROFILE", "ci"))


def pytest_configure(config):
    """Register the markers used by the ament-style lint tests."""
    for marker in ("linter", "flake8", "pep257", "copyright"):
        config.addinivalue_line("markers", f"{marker}: ament-style package lint test")
