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
"""Launch file, configs and tracker parameter mapping, checked without a ROS graph."""
import dataclasses
import importlib.util
import sys
import types
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from unsup_tracker.params import TrackerParams, UnknownParameterError
from unsup_tracker.registry import get_method, list_methods
from unsup_tracker.ros.common import ParameterError, use_large_image_transport
from unsup_tracker.ros.tracker_settings import NODE_PARAMETERS, method_overrides

PACKAGE_DIR = Path(__file__).resolve().parent.parent
LAUNCH_FILE = PACKAGE_DIR / "launch" / "tracker.launch.py"
CONFIG_DIR = PACKAGE_DIR / "config"


def test_launch_file_compiles():
    compile(LAUNCH_FILE.read_text(), str(LAUNCH_FILE), "exec")


def test_launch_file_builds_a_description_where_launch_is_installed():
    # launch.actions, not launch: run from the package directory, our launch/ folder would
    # import as an empty namespace package called `launch`.
    pytest.importorskip("launch.actions", reason="ROS 2 launch is not installed (not on PyPI)")
    pytest.importorskip("launch_ros", reason="launch_ros is not installed (not on PyPI)")
    from launch.actions import DeclareLaunchArgument
    spec = importlib.util.spec_from_file_location("tracker_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert {"method", "checkpoint", "device", "source", "video_path", "folder_path",
            "video_device", "image_topic", "namespace", "rviz", "params_file"} <= names


class _Recorded:
    """Stand-in for a launch class: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


_LAUNCH_STUBS = {
    "launch": ["LaunchDescription"],
    "launch.actions": ["DeclareLaunchArgument", "LogInfo", "OpaqueFunction",
                       "SetEnvironmentVariable"],
    "launch.substitutions": ["LaunchConfiguration", "PathJoinSubstitution"],
    "launch_ros": [],
    "launch_ros.actions": ["Node"],
    "launch_ros.substitutions": ["FindPackageShare"],
}


def _launch_module_with_stubs(monkeypatch):
    """Load tracker.launch.py against recording stand-ins (ROS 2 launch is not on PyPI)."""
    for module_name, classes in _LAUNCH_STUBS.items():
        module = types.ModuleType(module_name)
        for name in classes:
            setattr(module, name, type(name, (_Recorded,), {}))
        monkeypatch.setitem(sys.modules, module_name, module)
    spec = importlib.util.spec_from_file_location("tracker_launch_stubbed", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("environment", [
    {},
    {"UNSUP_TRACKER_DDS_PROFILE": "0"},
    {"UNSUP_TRACKER_DDS_PROFILE": "1"},
    {"FASTDDS_DEFAULT_PROFILES_FILE": "/home/me/my_profile.xml"},
    {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"},
    {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"},
    {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp", "UNSUP_TRACKER_DDS_PROFILE": "0"},
], ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items()) or "default")
def test_launch_file_sets_the_large_image_profile_like_the_nodes(monkeypatch, environment):
    module = _launch_module_with_stubs(monkeypatch)
    entities = module.generate_launch_description().args[0]
    functions = [e.kwargs["function"] for e in entities if type(e).__name__ == "OpaqueFunction"]
    # The profile must be in the environment before the nodes are started.
    assert functions == [module._large_image_transport, module._nodes]
    assert not [e for e in entities if type(e).__name__ == "SetEnvironmentVariable"]
    actions = functions[0](types.SimpleNamespace(environment=dict(environment)))
    launch_sets = {a.args[0]: a.args[1] for a in actions
                   if type(a).__name__ == "SetEnvironmentVariable"}
    node_environment = dict(environment)
    node_profile = use_large_image_transport(node_environment)
    opted_out = environment.get("UNSUP_TRACKER_DDS_PROFILE") == "0"
    chosen = any(k in environment for k in ("FASTDDS_DEFAULT_PROFILES_FILE",
                                            "FASTDDS_BUILTIN_TRANSPORTS"))
    other_rmw = "cyclone" in environment.get("RMW_IMPLEMENTATION", "")
    if opted_out or chosen or other_rmw:
        assert launch_sets == {} and node_profile is None
    else:
        profile = launch_sets["FASTDDS_DEFAULT_PROFILES_FILE"]
        assert profile == node_profile and Path(profile).is_file()
        assert Path(profile).name == "fastdds_large_images.xml"


def test_launch_file_refers_to_shipped_configs():
    text = LAUNCH_FILE.read_text()
    for name in ("fastdds_large_images.xml", "tracker.rviz"):
        assert name in text
        assert (CONFIG_DIR / name).is_file()


def test_fastdds_profile_is_valid_xml_with_a_large_segment():
    root = ElementTree.parse(CONFIG_DIR / "fastdds_large_images.xml").getroot()
    sizes = [int(e.text) for e in root.iter() if e.tag.endswith("segment_size")]
    assert sizes and max(sizes) >= 2 * 640 * 480 * 3


def _yaml():
    return pytest.importorskip("yaml", reason="PyYAML is not installed (the project venv has it)")


def _parameter_files():
    return sorted(p for p in CONFIG_DIR.glob("*.yaml"))


def test_there_is_a_parameter_file_for_the_default_method():
    assert (CONFIG_DIR / f"{NODE_PARAMETERS['method'][0]}.yaml").is_file()


@pytest.mark.parametrize("path", _parameter_files(), ids=lambda p: p.name)
def test_parameter_file_holds_valid_tracker_parameters(path):
    yaml = _yaml()
    document = yaml.safe_load(path.read_text())
    values = document["/**"]["ros__parameters"]
    methods = set(list_methods())
    unknown = [k for k in values if k not in NODE_PARAMETERS and k not in methods]
    assert not unknown, f"{path.name}: unknown parameters {unknown}"
    method = values.get("method", NODE_PARAMETERS["method"][0])
    assert path.stem == method, f"{path.name} configures method {method!r}"
    assert method in methods, f"{path.name}: unknown method {method!r}"
    for name, (default, _) in NODE_PARAMETERS.items():
        if name in values and not isinstance(default, str):
            assert type(values[name]) is type(default), f"{name}: {values[name]!r}"
    method_overrides(get_method(method), values.get(method, {}), values.get("online_update", True),
                     values.get("update_rate", -1.0), values.get("lost_score_threshold", -1.0),
                     values.get("finetune", False))


def test_rviz_config_shows_the_annotated_image():
    yaml = _yaml()
    config = yaml.safe_load((CONFIG_DIR / "tracker.rviz").read_text())
    displays = config["Visualization Manager"]["Displays"]
    images = [d for d in displays if d["Class"] == "rviz_default_plugins/Image"]
    assert images and images[0]["Topic"]["Value"] == "visualization_node/annotated"


# --------------------------------------------------------------- parameter mapping (no ROS)
@dataclasses.dataclass
class _SwitchAndRate(TrackerParams):
    online_update: bool = True
    interp_factor: float = 0.01
    scale_step: float = 1.02


@dataclasses.dataclass
class _RateOnly(TrackerParams):
    update_rate: float = 0.02


@dataclasses.dataclass
class _NoUpdate(TrackerParams):
    window: int = 3


def _spec(name, params_cls):
    return type("Spec", (), {"name": name, "params_cls": params_cls})()


def test_online_update_and_rate_map_onto_the_methods_keys():
    spec = _spec("a", _SwitchAndRate)
    overrides, warning = method_overrides(spec, {"scale_step": 1.05}, False, 0.03, 0.2, True)
    assert warning is None
    assert overrides == {"scale_step": 1.05, "online_update": False, "interp_factor": 0.03,
                         "lost_score_threshold": 0.2, "finetune": True}
    defaults, _ = method_overrides(spec, {}, True, -1.0, -1.0, False)
    assert "interp_factor" not in defaults and "lost_score_threshold" not in defaults


def test_online_update_off_sets_the_rate_to_zero_without_a_switch():
    overrides, warning = method_overrides(_spec("b", _RateOnly), {}, False, -1.0, -1.0, False)
    assert overrides["update_rate"] == 0.0 and warning is None


def test_a_method_without_online_update_gets_a_warning():
    _, warning = method_overrides(_spec("c", _NoUpdate), {}, False, -1.0, -1.0, False)
    assert "no online update" in warning
    _, quiet = method_overrides(_spec("c", _NoUpdate), {}, True, -1.0, -1.0, False)
    assert quiet is None


def test_top_level_settings_cannot_be_given_per_method():
    with pytest.raises(ParameterError, match="top-level"):
        method_overrides(_spec("a", _SwitchAndRate), {"interp_factor": 0.1}, True, -1, -1, False)


def test_unknown_and_bad_method_parameters_are_refused():
    with pytest.raises(UnknownParameterError, match="scale_stpe"):
        method_overrides(_spec("a", _SwitchAndRate), {"scale_stpe": 1.0}, True, -1, -1, False)
    with pytest.raises(ValueError, match="window"):
        method_overrides(_spec("c", _NoUpdate), {"window": "three"}, True, -1, -1, False)
