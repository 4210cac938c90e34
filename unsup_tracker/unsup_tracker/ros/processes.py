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
"""Start our nodes as separate processes (demo, benchmark, tests) and always stop them.

Each node runs in its own process group with its output in a log file; :meth:`NodeProcess.stop`
sends SIGINT (rclpy's clean shutdown), then SIGTERM, then SIGKILL to the whole group, so no
node outlives a failed test or an interrupted demo.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping, Optional

from .common import use_large_image_transport


def ros_environment(base: Optional[Mapping[str, str]] = None) -> dict:
    """Environment for a local graph: loopback discovery, a domain id, the large-image profile.

    Keeps ``ROS_DOMAIN_ID`` and a chosen Fast DDS profile when they are already set.
    """
    env = dict(os.environ if base is None else base)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if not env.get("ROS_DOMAIN_ID"):
        env["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
    use_large_image_transport(env)
    return env


def node_command(executable: str) -> list[str]:
    """Return the console script next to this interpreter (a venv), else ``python -m`` it."""
    script = Path(sys.executable).parent / executable
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", f"unsup_tracker.ros.{executable}"]


def ros_args(
    parameters: Optional[Mapping[str, object]] = None,
    remaps: Optional[Mapping[str, str]] = None,
    name: str = "",
    namespace: str = "",
) -> list[str]:
    """``--ros-args`` for parameters (bools and numbers as YAML), remaps, node name, namespace."""
    args = ["--ros-args"]
    for key, value in (parameters or {}).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            # Quote so that '0', 'true' or '' stay strings.
            text = "'" + value.replace("'", "''") + "'"
        else:
            text = repr(value)
        args += ["-p", f"{key}:={text}"]
    for old, new in (remaps or {}).items():
        args += ["-r", f"{old}:={new}"]
    if name:
        args += ["-r", f"__node:={name}"]
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    return args


class NodeProcess:
    """One node (or any command) in its own process group, logging to ``log_path``."""

    def __init__(
        self, command: Iterable[str], log_path: Path, env: Optional[Mapping[str, str]] = None
    ):
        self.command = list(command)
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        return self.process.poll()

    def wait(self, timeout: float) -> Optional[int]:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> Optional[int]:
        """SIGINT, then SIGTERM, then SIGKILL to the process group; returns the exit status."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            if not self.alive:
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while self.alive and time.monotonic() < deadline:
                time.sleep(0.02)
        # The group may hold children of the node (none of ours do); never leave them behind.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        return self.process.poll()
