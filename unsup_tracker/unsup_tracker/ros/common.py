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
"""What every node shares: image QoS, the large-image transport profile, parameter checks, main().

Transport: a 640x480 rgb8 frame (921,600 B) is larger than Fast DDS's default 512 KB
shared-memory segment, and with best-effort (sensor-data) QoS most such frames are then silently
lost (2-10% arrived in our measurements). ``config/fastdds_large_images.xml`` raises the segment
to 32 MiB. Each node points ``FASTDDS_DEFAULT_PROFILES_FILE`` at it before creating its DDS
participant unless the user already chose a profile or transport, so ``ros2 run`` works for
camera-sized images without extra set-up; set ``UNSUP_TRACKER_DDS_PROFILE=0`` to opt out.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

PACKAGE = "unsup_tracker"
LARGE_IMAGES_PROFILE = "fastdds_large_images.xml"
RELIABILITIES = ("best_effort", "reliable")
_PROFILE_VARIABLES = (
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "FASTDDS_BUILTIN_TRANSPORTS",
)


class ParameterError(ValueError):
    """A node parameter has a value the node cannot work with."""


def shipped_config_path(name: str) -> Path:
    """Return a file of the package's ``config/`` (installed share, else the source tree)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            candidate = Path(get_package_share_directory(PACKAGE)) / "config" / name
            if candidate.is_file():
                return candidate
        except (PackageNotFoundError, ValueError):
            pass
    except ImportError:
        pass
    candidate = Path(__file__).resolve().parents[2] / "config" / name
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(
        f"{name} is neither in share/{PACKAGE}/config nor in {candidate.parent}"
    )


def large_image_profile(environ: Mapping[str, str]) -> Optional[str]:
    """Return the shipped large-image profile to set in ``environ``, or None to leave it alone.

    None when the user opted out (``UNSUP_TRACKER_DDS_PROFILE=0``), the middleware is not Fast
    DDS, a profile or transport is already chosen, or the profile is not found. The nodes
    (:func:`use_large_image_transport`) and ``launch/tracker.launch.py`` both decide with this.
    """
    if environ.get("UNSUP_TRACKER_DDS_PROFILE", "1") == "0":
        return None
    if "fastrtps" not in environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"):
        return None
    if any(environ.get(variable) for variable in _PROFILE_VARIABLES):
        return None
    try:
        return str(shipped_config_path(LARGE_IMAGES_PROFILE))
    except FileNotFoundError:
        return None


def use_large_image_transport(environ: Optional[dict] = None) -> Optional[str]:
    """Point Fast DDS at the shipped large-image profile unless the user chose one.

    Must run before ``rclpy.init`` (the participant reads the variable when it is created).
    Returns the profile it set, or None when the environment was left alone.
    """
    env = os.environ if environ is None else environ
    profile = large_image_profile(env)
    if profile is not None:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = profile
    return profile


#: glibc's ``mallopt`` parameter numbers (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Allocations at least this large are mapped and unmapped on their own.
IMAGE_BUFFER_MMAP_BYTES = 256 * 1024


def return_image_buffers_to_the_os() -> bool:
    """Pin glibc's mmap threshold so freed image buffers go back to the OS at once.

    glibc raises its mmap threshold to the size of every mapped block it frees (up to 32 MiB),
    so after the first frames the 0.9 MB buffers of a 640x480 image come from the heap arenas,
    which grow during a burst of queued frames and are rarely given back: a node's RSS then
    climbs in steps with the machine's load although nothing leaks. A fixed threshold keeps
    every image-sized buffer in its own mapping. Returns False where glibc is not the C library
    (nothing changes there).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = mallopt(_M_MMAP_THRESHOLD, IMAGE_BUFFER_MMAP_BYTES) == 1
    return ok and mallopt(_M_TRIM_THRESHOLD, 2 * IMAGE_BUFFER_MMAP_BYTES) == 1


def image_qos(reliability: str, depth: int = 1):
    """Sensor-data QoS (keep last, volatile) with the given reliability."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    qos = QoSProfile(
        depth=depth,
        history=qos_profile_sensor_data.history,
        durability=qos_profile_sensor_data.durability,
    )
    qos.reliability = (
        ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    )
    return qos


def state_qos():
    """Return the QoS of tracker_node's ``~/state``: reliable, transient local."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


# ----------------------------------------------------------------------------- parameter checks
# The nodes declare their parameters with dynamic typing so that a YAML `1` for a float or a
# wrong type gives one of these messages instead of an rclpy traceback.


def as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ParameterError(f"parameter '{name}' must be true or false, got {value!r}")


def as_float(
    name: str, value: Any, minimum: float = -math.inf, maximum: float = math.inf, allow: tuple = ()
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"parameter '{name}' must be a number, got {value!r}")
    value = float(value)
    if value in allow:
        return value
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise ParameterError(
            f"parameter '{name}' must be in [{minimum:g}, {maximum:g}], got {value:g}"
        )
    return value


def as_int(name: str, value: Any, minimum: int = -sys.maxsize, maximum: int = sys.maxsize) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"parameter '{name}' must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise ParameterError(f"parameter '{name}' must be in [{minimum}, {maximum}], got {value}")
    return value


def as_choice(name: str, value: Any, choices: tuple) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ParameterError(
            f"parameter '{name}' must be one of {', '.join(choices)}, got {value!r}"
        )
    return value.lower()


def as_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"parameter '{name}' must be a string, got {value!r}")
    return value


class ThrottledWarning:
    """Warn at most once per ``period`` seconds per KIND of message (digits ignored).

    rclpy's own throttling is per call site, so a second, different problem reported by the
    same line would be hidden; here "step 5 < row 15" and "step 7 < row 21" share a slot, but
    an unsupported encoding gets its own.
    """

    def __init__(self, logger, period: float = 5.0):
        self._logger = logger
        self._period = period
        self._last: dict = {}

    def __call__(self, message: str) -> None:
        import re
        import time
        key = re.sub(r"\d+", "#", message)
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) >= self._period:
            self._last[key] = now
            self._logger.warning(message)


def declare(node, name: str, default: Any, description: str) -> Any:
    """Declare a dynamically typed parameter and return its value (the override or ``default``)."""
    from rcl_interfaces.msg import ParameterDescriptor

    descriptor = ParameterDescriptor(description=description, dynamic_typing=True)
    if node.has_parameter(name):
        # Declared from a command-line/YAML override with a fixed type: make it dynamic too,
        # so a later `ros2 param set` gets the node's own message, not rclpy's type error.
        node.set_descriptor(name, descriptor)
        return node.get_parameter(name).value
    return node.declare_parameter(name, default, descriptor).value


#: Parameters rclpy itself declares on every node.
ROS_OWN_PARAMETERS = ("use_sim_time", "start_type_description_service")


def refuse_unknown_parameters(
    node, known: Iterable[str], also_known: Callable[[str], bool] = lambda name: False,
    hint: str = ""
) -> None:
    """Raise :class:`ParameterError` naming every parameter the node does not know.

    A misspelt ``-p`` or params-file entry would otherwise be ignored without a word. The node
    must be created with ``automatically_declare_parameters_from_overrides=True`` so that every
    override (command line, YAML) is listed; ``qos_overrides.*`` and rclpy's own parameters
    are always accepted, ``also_known`` accepts more names (the tracker's ``<method>.<key>``).
    """
    known = set(known)
    unknown = sorted(
        name
        for name in node.list_parameters([], 0).names
        if name not in known
        and name not in ROS_OWN_PARAMETERS
        and not name.startswith("qos_overrides.")
        and not also_known(name)
    )
    if unknown:
        raise ParameterError(
            f"{node.get_name()}: unknown parameter(s) {unknown}; node parameters: "
            f"{sorted(known)}{hint}"
        )


def run_node(make_node: Callable[[], Any], args: Optional[list] = None,
             pin_mmap_threshold: bool = True) -> int:
    """Run a node: rclpy init, build, spin until Ctrl-C / SIGTERM / node exit, clean shutdown.

    The executor is single-threaded for every node: with three subscriber processes on a 2-core
    machine, rclpy's MultiThreadedExecutor lost 5-24% of a 30 Hz 640x480 best-effort image
    stream even with a callback that only counts and a 10-deep queue, while the single-threaded
    one received 450 of 450 frames in every run (and so did the C++ EventsExecutor, which only
    Kilted has). Long work belongs in a node's own worker thread.

    Signals: rclpy's own SIGINT/SIGTERM handler shuts the context down inside the signal
    handler, while a node's worker thread may be publishing (the tracker logged "publisher's
    context is invalid" on Ctrl-C). Here SIGINT and SIGTERM only ask the spin loop to end; the
    node's ``close()`` then stops its threads, and only after that are the node and the context
    destroyed, so a signal gives exit status 0 and no error line. A callback that is running
    (an ``~/init`` that fine-tunes) finishes first; a second signal interrupts at once.

    ``pin_mmap_threshold``: :func:`return_image_buffers_to_the_os` (camera and visualization).
    tracker_node runs without it: every tensor of 256 KiB or more would then be mapped, faulted
    in page by page and unmapped on each use, which doubled ``track()`` (S2SiamFC 15.8 -> 31.7 ms
    a frame, PUL 18.9 -> 32.9, USOT 15.2 -> 30.0, UDT 6.1 -> 8.7; box.mp4, one thread), and the
    tracker holds no queue of frames for a burst to grow (one pending frame and the
    ``frame_buffer_size`` frames for ``~/init``).

    ``make_node`` may raise :class:`ParameterError` or ``FileNotFoundError``: the message is
    printed and the process exits with status 2. A node that wants to finish by itself sets
    ``node.exit_code`` and calls ``rclpy.shutdown()`` (the camera at the end of a video does).
    """
    import signal
    import threading

    use_large_image_transport()
    if pin_mmap_threshold:
        return_image_buffers_to_the_os()
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    code = 0
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        # Python runs signal handlers between bytecodes of the main thread: the timeout bounds
        # how long a signal waits for the blocking DDS wait to return.
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (ParameterError, FileNotFoundError) as exc:
        print(f"[{PACKAGE}] error: {exc}", file=sys.stderr, flush=True)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            code = getattr(node, "exit_code", 0) or code
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
