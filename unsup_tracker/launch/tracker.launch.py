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
rviz (true | false), params_file (default config/<method>.yaml; a method without its own file
runs with the node's defaults).

Large images: FASTDDS_DEFAULT_PROFILES_FILE is set to the shipped config/fastdds_large_images.xml
(32 MiB shared-memory segment) for every process of this launch (RViz included), by the rule the
nodes apply themselves: not when UNSUP_TRACKER_DDS_PROFILE=0, another RMW is chosen, or a Fast
DDS profile or transport is already set. Fast DDS's default 512 KB segment loses most 640x480
frames with best-effort QoS.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare
from unsup_tracker.ros.common import large_image_profile

PACKAGE = "unsup_tracker"
SOURCES = ("device", "video", "folder", "topic")


def _truthy(value, name):
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"launch argument {name} must be true or false, got {value!r}")


def _large_image_transport(context):
    environment = getattr(context, "environment", os.environ)
    profile = large_image_profile(environment)
    if profile is None:
        return [LogInfo(msg="Fast DDS profile: left as configured (not the large-image one)")]
    return [SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile)]


def _nodes(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context).strip()

    source = arg("source").lower()
    if source not in SOURCES:
        raise ValueError(
            f"launch argument source must be one of {', '.join(SOURCES)}, got {source!r}"
        )
    namespace = arg("namespace")
    method = arg("method")
    share = FindPackageShare(PACKAGE).perform(context)
    default_params = os.path.join(share, "config", f"{method}.yaml")
    params_file = arg("params_file")
    actions = []

    tracker_parameters = []
    if os.path.isfile(params_file):
        tracker_parameters.append(params_file)
    elif params_file == default_params:
        actions.append(
            LogInfo(msg=f"no config/{method}.yaml: tracker_node uses its built-in defaults")
        )
    else:
        raise FileNotFoundError(f"params_file {params_file} does not exist")
    # Launch arguments override the file only where they were given.
    overrides = {"method": method}
    for name in ("checkpoint", "device"):
        if arg(name):
            overrides[name] = arg(name)
    tracker_parameters.append(overrides)

    image_remap = []
    if source == "topic":
        if not arg("image_topic"):
            raise ValueError("source:=topic needs image_topic:=<sensor_msgs/Image topic>")
        image_remap = [("image", arg("image_topic"))]
    else:
        source_argument = {
            "device": "video_device",
            "video": "video_path",
            "folder": "folder_path",
        }[source]
        camera_source = arg(source_argument)
        if not camera_source:
            raise ValueError(f"source:={source} needs {source_argument}:=<path>")
        actions.append(
            Node(
                package=PACKAGE,
                executable="camera_node",
                name="camera_node",
                namespace=namespace,
                output="screen",
                parameters=[
                    {
                        "source": camera_source,
                        "rate": float(arg("rate")),
                        "loop": _truthy(arg("loop"), "loop"),
                    }
                ],
            )
        )

    actions.append(
        Node(
            package=PACKAGE,
            executable="tracker_node",
            name="tracker_node",
            namespace=namespace,
            output="screen",
            parameters=tracker_parameters,
            remappings=image_remap,
        )
    )
    actions.append(
        Node(
            package=PACKAGE,
            executable="visualization_node",
            name="visualization_node",
            namespace=namespace,
            output="screen",
            remappings=image_remap
            + [("detections", "tracker_node/detections"), ("mask", "tracker_node/mask")],
        )
    )
    if _truthy(arg("rviz"), "rviz"):
        # The RViz config names the relative topic visualization_node/annotated, which resolves
        # inside this namespace.
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                namespace=namespace,
                output="screen",
                arguments=["-d", os.path.join(share, "config", "tracker.rviz")],
            )
        )
    return actions


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
            DeclareLaunchArgument("rviz", default_value="true", description="start RViz"),
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
