"""Test-session set-up shared by every test in unsup_tracker/test.

`make test` exports these variables; setting them here too (only where unset) keeps a bare
`pytest` run safe: ROS 2 traffic stays on loopback, parallel runs use different domains, and
ROS logs go to a temporary directory.
"""
import os
import random
import tempfile

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="unsup_tracker_ros_log_"))


def pytest_configure(config):
    """Register the markers used by the ament-style lint tests."""
    for marker in ("linter", "flake8", "pep257", "copyright"):
        config.addinivalue_line("markers", f"{marker}: ament-style package lint test")
