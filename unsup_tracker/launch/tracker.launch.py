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
"""Camera -> tracker -> visualization (-> RViz) for unsup_tracker.

    ros2 launch unsup_tracker tracker.launch.py                                   # /dev/video0
    ros2 launch unsup_tracker tracker.launch.py source:=video video_path:=clip.mp4
    ros2 launch unsup_tracker tracker.launch.py source:=folder folder_path:=OTB/Basketball
    ros2 launch unsup_tracker tracker.launch.py source:=topic image_topic:=/camera/color/image_raw
    ros2 service call /tracker_node/init unsup_tracker_interfaces/srv/InitTrack \
        "{box: {center: {position: {x: 320, y: 240}}, size_x: 80, size_y: 60}}"

Arguments: method, checkpoint ('' = shipped weights), device, source (device | video | folder |
topic), video_device, video_path, folder_path, image_topic, rate, loop, namespace,
rviz (true | false), respawn (true | false, default false), lifecycle (true | false, default
false), params_file (default config/<method>.yaml; a method without its own file runs with the
node's defaults).

Targets start by a ``~/init`` call, from a detector (tracker_node's ``init_detections``
parameter, in the params file) or by a click: rqt_image_view showing
``visualization_node/annotated`` publishes clicks on ``visualization_node/annotated_mouse_left``,
which is remapped to tracker_node's ``image_mouse_left``.

``lifecycle:=true`` runs the tracker as a managed (lifecycle) node, ``tracker_lifecycle_node``:
the launch configures it (loads the model) and, once it is inactive, activates it (subscribes and
serves) through launch events; ``ros2 lifecycle set /tracker_node deactivate`` (stops tracking,
frees the subscription), ``cleanup`` (frees the model), ``configure``, ``activate`` drive it
afterwards. The plain node stays the default. The lifecycle pieces of launch_ros are imported
only for ``lifecycle:=true``.

Checked before any node starts (:func:`check_arguments`): the method exists, the checkpoint,
video file, image folder or /dev/video device exists, numbers and switches parse, and the
params file holds valid tracker_node parameters for that method. A launch that cannot do what
was asked fails as a whole with every reason listed and starts nothing, rather than leaving
half a pipeline running. ``rviz:=true`` without rviz2 installed (headless robots) logs that and
runs as ``rviz:=false``: RViz is a viewer, the tracking pipeline works without it.

When camera_node or tracker_node exits mid-run (a crash, an unplugged camera, the end of a
video without ``loop``), the default is to shut the whole launch down with the reason: a
pipeline missing its camera or tracker still lists its other nodes but does nothing, and a
supervisor (systemd, a container restart policy) restarting the whole launch is easy to reason
about. Respawning by default would hide a persistent fault (a missing device restarted every
few seconds forever) and loses the track anyway. ``respawn:=true`` restarts the two nodes
instead (2 s apart), for unattended runs with a flaky source; a respawned tracker_node idles
until the next ``~/init``.

Large images: FASTDDS_DEFAULT_PROFILES_FILE is set to the shipped config/fastdds_large_images.xml
(32 MiB shared-memory segment) for every process of this launch (RViz included), by the rule the
nodes apply themselves: not when UNSUP_TRACKER_DDS_PROFILE=0, another RMW is chosen, or a Fast
DDS profile or transport is already set. Fast DDS's default 512 KB segment loses most 640x480
frames with best-effort QoS.
"""

import math
import os
import shutil
import sys
from pathlib import Path

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
    Shutdown,
)
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare
from unsup_tracker.ros.common import large_image_profile

PACKAGE = "unsup_tracker"
SOURCES = ("device", "video", "folder", "topic")
#: Where rqt_image_view publishes clicks on visualization_node's output (its ``_mouse_left``).
CLICK_TOPIC = "visualization_node/annotated_mouse_left"
#: Seconds between a node's exit and its restart with respawn:=true.
RESPAWN_DELAY = 2.0


class LaunchArgumentError(ValueError):
    """The launch arguments ask for something that cannot run; nothing was started."""


def _truthy(value, name):
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"launch argument {name} must be true or false, got {value!r}")


def rviz_command():
    """Return how to start rviz2 (a launch_ros Node's keyword arguments), or None if absent."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix

        try:
            prefix = Path(get_package_prefix("rviz2"))
            if (prefix / "lib" / "rviz2" / "rviz2").is_file():
                return {"package": "rviz2", "executable": "rviz2"}
        except (PackageNotFoundError, ValueError):
            pass
    except ImportError:
        pass
    found = shutil.which("rviz2")
    return {"executable": found} if found else None


def _tracker_parameter_problems(params_file, method, checkpoint, device):
    """Check a tracker_node params file and the overrides the launch gives: list problems."""
    from unsup_tracker.ros.common import ParameterError
    from unsup_tracker.ros.tracker_settings import (
        NODE_PARAMETERS,
        build_tracker_config,
        check_startup_parameters,
    )

    values = {}
    if params_file:
        import yaml

        try:
            document = yaml.safe_load(Path(params_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            return [f"params_file {params_file} cannot be read: {exc}"]
        if not isinstance(document, dict):
            return [f"params_file {params_file} is not a mapping"]
        for node_name, section in document.items():
            if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
                if node_name == "/**" or str(node_name).rstrip("/").endswith("tracker_node"):
                    values.update(_flatten(section["ros__parameters"]))
    values["method"] = method
    if checkpoint:
        values["checkpoint"] = checkpoint
    if device:
        values["device"] = device
    problems = []
    from unsup_tracker.registry import list_methods

    methods = set(list_methods())
    unknown = sorted(
        name for name in values
        if name not in NODE_PARAMETERS and name.split(".", 1)[0] not in methods
    )
    if unknown:
        problems.append(f"params_file {params_file}: unknown tracker_node parameter(s) {unknown}")
    try:
        check_startup_parameters(values)
        build_tracker_config(values)
    except (ParameterError, ValueError, KeyError) as exc:
        where = f"params_file {params_file}" if params_file else "tracker settings"
        problems.append(f"{where}: {exc}")
    return problems


def _flatten(mapping, prefix=""):
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_arguments(values, default_params_file):
    """Check the launch arguments (strings, by name); return the plan or raise.

    Returns a dict with ``source``, ``camera_source`` (None for source:=topic), ``rate``,
    ``loop``, ``rviz`` (a command or None), ``respawn``, ``params_file`` (None: the node's
    defaults) and ``notes`` (messages to log). Raises :class:`LaunchArgumentError` listing
    every problem found, so one attempt shows all of them.
    """
    problems = []
    notes = []

    def switch(name):
        try:
            return _truthy(values[name].strip(), name)
        except ValueError as exc:
            problems.append(str(exc))
            return False

    source = values["source"].strip().lower()
    if source not in SOURCES:
        problems.append(
            f"launch argument source must be one of {', '.join(SOURCES)}, got {source!r}"
        )
    method = values["method"].strip()
    from unsup_tracker.registry import UNTRAINED, list_methods

    if method not in list_methods():
        problems.append(f"unknown method {method!r}; available: {', '.join(list_methods())}")
    checkpoint = values["checkpoint"].strip()
    if checkpoint and checkpoint != UNTRAINED and not Path(checkpoint).expanduser().is_file():
        problems.append(f"checkpoint {checkpoint} does not exist")
    try:
        rate = float(values["rate"])
        if not math.isfinite(rate) or not 0.0 <= rate <= 1000.0:
            raise ValueError
    except ValueError:
        problems.append(f"launch argument rate must be a number in [0, 1000], got "
                        f"{values['rate']!r}")
        rate = 0.0
    loop, respawn, want_rviz = switch("loop"), switch("respawn"), switch("rviz")
    lifecycle = switch("lifecycle") if "lifecycle" in values else False

    camera_source = None
    if source == "topic":
        if not values["image_topic"].strip():
            problems.append("source:=topic needs image_topic:=<sensor_msgs/Image topic>")
    elif source in SOURCES:
        name = {"device": "video_device", "video": "video_path", "folder": "folder_path"}[source]
        camera_source = values[name].strip()
        if not camera_source:
            problems.append(f"source:={source} needs {name}:=<path>")
        elif source == "video" and not Path(camera_source).expanduser().is_file():
            problems.append(f"video_path {camera_source} does not exist")
        elif source == "folder" and not Path(camera_source).expanduser().is_dir():
            problems.append(f"folder_path {camera_source} is not a folder")
        elif source == "device" and sys.platform.startswith("linux"):
            device = f"/dev/video{camera_source}" if camera_source.isdigit() else camera_source
            if device.startswith("/dev/") and not Path(device).exists():
                problems.append(f"video_device {camera_source}: {device} does not exist")

    params_file = values["params_file"].strip()
    if os.path.isfile(params_file):
        pass
    elif params_file == default_params_file:
        notes.append(f"no config/{method}.yaml: tracker_node uses its built-in defaults")
        params_file = None
    else:
        problems.append(f"params_file {params_file} does not exist")
        params_file = None
    if not problems:
        # Checked last: the method must exist for its parameters to be checked.
        problems += _tracker_parameter_problems(
            params_file, method, checkpoint, values["device"].strip()
        )

    rviz = None
    if want_rviz:
        rviz = rviz_command()
        if rviz is None:
            notes.append(
                "rviz:=true but rviz2 is not installed: running without RViz (as rviz:=false); "
                "view visualization_node/annotated with rqt_image_view, or install rviz2"
            )
    if problems:
        raise LaunchArgumentError(
            "tracker.launch.py starts nothing:\n  - " + "\n  - ".join(problems)
        )
    return {"source": source, "camera_source": camera_source, "rate": rate, "loop": loop,
            "rviz": rviz, "respawn": respawn, "lifecycle": lifecycle, "params_file": params_file,
            "notes": notes}


def _shutdown_on_exit(node_name):
    """Return an OnProcessExit callback that ends the launch when ``node_name`` exits."""

    def on_exit(event, context):
        if getattr(context, "is_shutdown", False):
            return None  # the launch is already ending (Ctrl-C): the exit is expected
        reason = (
            f"{node_name} exited with status {event.returncode}; shutting the launch down "
            "(respawn:=true restarts it instead)"
        )
        return [LogInfo(msg=reason), Shutdown(reason=reason)]

    return on_exit


def _large_image_transport(context):
    environment = getattr(context, "environment", os.environ)
    profile = large_image_profile(environment)
    if profile is None:
        return [LogInfo(msg="Fast DDS profile: left as configured (not the large-image one)")]
    return [SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile)]


ARGUMENTS = ("method", "checkpoint", "device", "source", "video_device", "video_path",
             "folder_path", "image_topic", "rate", "loop", "namespace", "rviz", "respawn",
             "lifecycle", "params_file")


def lifecycle_tracker(arguments):
    """Return the managed tracker node and the actions that configure and activate it.

    The actions go after the node. Configure is emitted at start; activate when the node reports
    the configuring -> inactive transition (a failed configure, e.g. a missing checkpoint,
    leaves it unconfigured, with the reason in its log).
    """
    from launch.actions import EmitEvent
    from launch.actions import RegisterEventHandler as Register
    from launch.events import matches_action
    from launch_ros.actions import LifecycleNode
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    node = LifecycleNode(executable="tracker_lifecycle_node", **arguments)

    def change(transition):
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                           transition_id=transition))

    activate = Register(OnStateTransition(target_lifecycle_node=node, start_state="configuring",
                                          goal_state="inactive",
                                          entities=[change(Transition.TRANSITION_ACTIVATE)]))
    return node, [activate, change(Transition.TRANSITION_CONFIGURE)]


def _nodes(context):
    values = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    share = FindPackageShare(PACKAGE).perform(context)
    method = values["method"].strip()
    return launch_actions(values, share, os.path.join(share, "config", f"{method}.yaml"))


def launch_actions(values, share, default_params_file):
    """Return the actions for the checked arguments (raises before any node is created)."""
    plan = check_arguments(values, default_params_file)
    namespace = values["namespace"].strip()
    actions = [LogInfo(msg=note) for note in plan["notes"]]
    respawn = {"respawn": True, "respawn_delay": RESPAWN_DELAY} if plan["respawn"] else {}

    tracker_parameters = [plan["params_file"]] if plan["params_file"] else []
    # Launch arguments override the file only where they were given.
    overrides = {"method": values["method"].strip()}
    for name in ("checkpoint", "device"):
        if values[name].strip():
            overrides[name] = values[name].strip()
    tracker_parameters.append(overrides)

    image_remap = []
    watched = []
    if plan["camera_source"] is None:
        image_remap = [("image", values["image_topic"].strip())]
    else:
        camera = Node(
            package=PACKAGE,
            executable="camera_node",
            name="camera_node",
            namespace=namespace,
            output="screen",
            parameters=[
                {"source": plan["camera_source"], "rate": plan["rate"], "loop": plan["loop"]}
            ],
            **respawn,
        )
        actions.append(camera)
        watched.append(("camera_node", camera))

    tracker_arguments = dict(
        package=PACKAGE,
        name="tracker_node",
        namespace=namespace,
        output="screen",
        parameters=tracker_parameters,
        # Clicks in rqt_image_view on the annotated view (same pixels as the camera image)
        # start targets.
        remappings=image_remap + [("image_mouse_left", CLICK_TOPIC)],
        **respawn,
    )
    if plan["lifecycle"]:
        # After the node action: its ChangeState events must find the node's handler.
        tracker, transitions = lifecycle_tracker(tracker_arguments)
        actions += [tracker] + transitions
    else:
        tracker = Node(executable="tracker_node", **tracker_arguments)
        actions.append(tracker)
    watched.append(("tracker_node", tracker))
    actions.append(
        Node(
            package=PACKAGE,
            executable="visualization_node",
            name="visualization_node",
            namespace=namespace,
            output="screen",
            remappings=image_remap
            + [("detections", "tracker_node/detections"), ("mask", "tracker_node/mask"),
               ("state", "tracker_node/state")],
        )
    )
    if plan["rviz"] is not None:
        # The RViz config names the relative topic visualization_node/annotated, which resolves
        # inside this namespace.
        actions.append(
            Node(
                name="rviz2",
                namespace=namespace,
                output="screen",
                arguments=["-d", os.path.join(share, "config", "tracker.rviz")],
                **plan["rviz"],
            )
        )
    if plan["respawn"]:
        return actions
    # Registered before the nodes start, so an exit right after start-up is seen too.
    handlers = [
        RegisterEventHandler(OnProcessExit(target_action=node, on_exit=_shutdown_on_exit(name)))
        for name, node in watched
    ]
    notes = len(plan["notes"])
    return actions[:notes] + handlers + actions[notes:]


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    return LaunchDescription(
        [
            DeclareLaunchArgument("method", default_value="udt", description="tracking method"),
            DeclareLaunchArgument(
                "checkpoint",
                default_value="",
                description="checkpoint file ('' = the method's shipped weights)",
            ),
            DeclareLaunchArgument(
                "device", default_value="", description="auto, cpu or cuda ('' = params file)"
            ),
            DeclareLaunchArgument(
                "source", default_value="device", description=" | ".join(SOURCES)
            ),
            DeclareLaunchArgument(
                "video_device",
                default_value="/dev/video0",
                description="camera index or /dev/videoN (source:=device)",
            ),
            DeclareLaunchArgument(
                "video_path", default_value="", description="video file (source:=video)"
            ),
            DeclareLaunchArgument(
                "folder_path",
                default_value="",
                description="image folder, OTB-style img/ accepted (source:=folder)",
            ),
            DeclareLaunchArgument(
                "image_topic",
                default_value="",
                description="external sensor_msgs/Image topic (source:=topic)",
            ),
            DeclareLaunchArgument(
                "rate", default_value="0.0", description="camera rate; 0 = the source's"
            ),
            DeclareLaunchArgument(
                "loop", default_value="false", description="loop videos and folders"
            ),
            DeclareLaunchArgument(
                "namespace", default_value="", description="namespace of all nodes"
            ),
            DeclareLaunchArgument(
                "rviz", default_value="true", description="start RViz (when installed)"
            ),
            DeclareLaunchArgument(
                "respawn",
                default_value="false",
                description="restart camera_node/tracker_node when they exit (default: a "
                "node's exit shuts the whole launch down)",
            ),
            DeclareLaunchArgument(
                "lifecycle",
                default_value="false",
                description="run tracker_node as a lifecycle node, configured and activated "
                "by launch events (ros2 lifecycle set drives it afterwards)",
            ),
            DeclareLaunchArgument(
                "params_file",
                # A list of substitutions is concatenated: <share>/config/<method> + ".yaml".
                default_value=[
                    PathJoinSubstitution([share, "config", LaunchConfiguration("method")]),
                    ".yaml",
                ],
                description="tracker_node parameters (YAML)",
            ),
            OpaqueFunction(function=_large_image_transport),
            OpaqueFunction(function=_nodes),
        ]
    )
