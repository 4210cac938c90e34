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
import os
import subprocess
import sys
import types
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from unsup_tracker.params import TrackerParams, UnknownParameterError
from unsup_tracker.registry import get_method, list_methods
from unsup_tracker.ros.common import ParameterError, use_large_image_transport
from unsup_tracker.ros.tracker_settings import (NODE_PARAMETERS, build_tracker_config,
                                                method_overrides)

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
                       "RegisterEventHandler", "SetEnvironmentVariable", "Shutdown"],
    "launch.event_handlers": ["OnProcessExit"],
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


# ------------------------------------------------- launch arguments checked before any node
def _arguments(tmp_path, **changes):
    """Return valid launch arguments (strings) for an image folder, updated by ``changes``."""
    (tmp_path / "img").mkdir(exist_ok=True)
    values = {"method": "udt", "checkpoint": "", "device": "", "source": "folder",
              "video_device": "/dev/video0", "video_path": "", "folder_path": str(tmp_path),
              "image_topic": "", "rate": "0.0", "loop": "false", "namespace": "",
              "rviz": "false", "respawn": "false", "lifecycle": "false",
              "params_file": str(CONFIG_DIR / "udt.yaml")}
    values.update(changes)
    return values


def _plan(monkeypatch, values, created=None):
    """Run the launch file's node planning on ``values``; return (module, actions, nodes).

    Every Node the launch file creates is appended to ``created``, also when it raises.
    """
    module = _launch_module_with_stubs(monkeypatch)
    created = [] if created is None else created

    class Node(_Recorded):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(module, "Node", Node)
    actions = module.launch_actions(values, str(PACKAGE_DIR), str(CONFIG_DIR / "udt.yaml"))
    return module, actions, created


def _params_file(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("changes, reason", [
    ({"method": "nope"}, "unknown method 'nope'"),
    ({"source": "video", "video_path": "/nonexistent/clip.mp4"},
     "video_path /nonexistent/clip.mp4 does not exist"),
    ({"folder_path": "/nonexistent/folder"}, "folder_path /nonexistent/folder is not a folder"),
    ({"source": "video"}, "source:=video needs video_path"),
    ({"source": "device", "video_device": "/dev/video97"}, "/dev/video97 does not exist"),
    ({"source": "device", "video_device": "98"}, "/dev/video98 does not exist"),
    ({"source": "topic"}, "source:=topic needs image_topic"),
    ({"source": "usb"}, "source must be one of"),
    ({"rate": "fast"}, "rate must be a number"),
    ({"rate": "-1"}, "rate must be a number"),
    ({"rate": "nan"}, "rate must be a number"),
    ({"loop": "maybe"}, "loop must be true or false"),
    ({"respawn": "sometimes"}, "respawn must be true or false"),
    ({"rviz": "yes please"}, "rviz must be true or false"),
    ({"checkpoint": "/nonexistent/udt.pt"}, "checkpoint /nonexistent/udt.pt does not exist"),
    ({"device": "gpu"}, "unknown device"),
    ({"params_file": "/nonexistent/udt.yaml"}, "params_file /nonexistent/udt.yaml does not exist"),
])
def test_a_launch_that_cannot_run_starts_nothing_and_says_why(
        monkeypatch, tmp_path, changes, reason):
    created = []
    with pytest.raises(ValueError) as error:
        _plan(monkeypatch, _arguments(tmp_path, **changes), created)
    assert reason in str(error.value)
    assert type(error.value).__name__ == "LaunchArgumentError"
    assert not created


@pytest.mark.parametrize("text, reason", [
    ("/**:\n  ros__parameters:\n    udt:\n      num_scales: -1\n", "num_scales must be odd"),
    ("/**:\n  ros__parameters:\n    frame_buffer_size: 0\n", "frame_buffer_size"),
    ("/**:\n  ros__parameters:\n    onlne_update: false\n", "['onlne_update']"),
    ("/**:\n  ros__parameters:\n    udt:\n      scale_stpe: 1.0\n", "scale_stpe"),
    ("/**: [unclosed\n", "cannot be read"),
])
def test_a_params_file_with_bad_tracker_values_starts_nothing(monkeypatch, tmp_path, text, reason):
    values = _arguments(tmp_path, params_file=_params_file(tmp_path, text))
    with pytest.raises(ValueError, match="starts nothing") as error:
        _plan(monkeypatch, values)
    assert reason in str(error.value)


def test_every_problem_is_listed_at_once(monkeypatch, tmp_path):
    values = _arguments(tmp_path, method="nope", rate="fast", folder_path="/nonexistent/folder")
    with pytest.raises(ValueError) as error:
        _plan(monkeypatch, values)
    for reason in ("unknown method", "rate must be", "is not a folder"):
        assert reason in str(error.value)


def _kind(action):
    return type(action).__name__


def test_camera_or_tracker_exit_shuts_the_launch_down_by_default(monkeypatch, tmp_path):
    module, actions, created = _plan(monkeypatch, _arguments(tmp_path))
    names = [node.kwargs["name"] for node in created]
    assert names == ["camera_node", "tracker_node", "visualization_node"]
    assert not any(node.kwargs.get("respawn") for node in created)
    handlers = [a.args[0] for a in actions if _kind(a) == "RegisterEventHandler"]
    assert [_kind(h) for h in handlers] == ["OnProcessExit", "OnProcessExit"]
    assert [h.kwargs["target_action"] for h in handlers] == created[:2]
    # The handlers are registered before the nodes are started.
    first_node = min(actions.index(node) for node in created)
    assert all(actions.index(a) < first_node
               for a in actions if _kind(a) == "RegisterEventHandler")
    on_exit = handlers[0].kwargs["on_exit"]
    running = types.SimpleNamespace(is_shutdown=False)
    reaction = on_exit(types.SimpleNamespace(returncode=2), running)
    shutdown = [a for a in reaction if _kind(a) == "Shutdown"]
    assert len(shutdown) == 1
    assert "camera_node exited with status 2" in shutdown[0].kwargs["reason"]
    # Ctrl-C on the launch: the nodes' exits are expected, nothing more is emitted.
    assert on_exit(types.SimpleNamespace(returncode=0), types.SimpleNamespace(is_shutdown=True)) \
        is None


def test_respawn_restarts_camera_and_tracker_instead(monkeypatch, tmp_path):
    _, actions, created = _plan(monkeypatch, _arguments(tmp_path, respawn="true"))
    by_name = {node.kwargs["name"]: node for node in created}
    for name in ("camera_node", "tracker_node"):
        assert by_name[name].kwargs["respawn"] is True
        assert by_name[name].kwargs["respawn_delay"] > 0
    assert not [a for a in actions if _kind(a) == "RegisterEventHandler"]


def test_the_plain_tracker_node_is_the_default_and_clicks_are_remapped(monkeypatch, tmp_path):
    _, _, created = _plan(monkeypatch, _arguments(tmp_path, source="topic",
                                                  image_topic="/cam/image_raw"))
    tracker = next(node for node in created if node.kwargs["name"] == "tracker_node")
    assert tracker.kwargs["executable"] == "tracker_node"
    assert ("image", "/cam/image_raw") in tracker.kwargs["remappings"]
    assert ("image_mouse_left", "visualization_node/annotated_mouse_left") \
        in tracker.kwargs["remappings"]


_LIFECYCLE_STUBS = {
    "launch.events": ["matches_action"],
    "launch_ros.actions": ["LifecycleNode"],
    "launch_ros.event_handlers": ["OnStateTransition"],
    "launch_ros.events": [],
    "launch_ros.events.lifecycle": ["ChangeState"],
}


def test_lifecycle_runs_the_managed_node_configured_then_activated_by_events(
        monkeypatch, tmp_path):
    module = _launch_module_with_stubs(monkeypatch)
    for module_name, classes in _LIFECYCLE_STUBS.items():
        stub = sys.modules.get(module_name) or types.ModuleType(module_name)
        for name in classes:
            setattr(stub, name, type(name, (_Recorded,), {}))
        monkeypatch.setitem(sys.modules, module_name, stub)
    sys.modules["launch.actions"].EmitEvent = type("EmitEvent", (_Recorded,), {})
    transition = types.ModuleType("lifecycle_msgs.msg")
    transition.Transition = types.SimpleNamespace(TRANSITION_CONFIGURE=1, TRANSITION_ACTIVATE=3)
    monkeypatch.setitem(sys.modules, "lifecycle_msgs", types.ModuleType("lifecycle_msgs"))
    monkeypatch.setitem(sys.modules, "lifecycle_msgs.msg", transition)
    actions = module.launch_actions(_arguments(tmp_path, lifecycle="true"), str(PACKAGE_DIR),
                                    str(CONFIG_DIR / "udt.yaml"))
    managed = [a for a in actions if _kind(a) == "LifecycleNode"]
    assert len(managed) == 1 and managed[0].kwargs["executable"] == "tracker_lifecycle_node"
    assert managed[0].kwargs["name"] == "tracker_node"
    after = actions[actions.index(managed[0]) + 1:]
    emitted = [a.kwargs["event"].kwargs["transition_id"] for a in after if _kind(a) == "EmitEvent"]
    assert emitted == [1], "configure is emitted (once) after the node starts"
    handlers = [a.args[0] for a in after if _kind(a) == "RegisterEventHandler"
                and _kind(a.args[0]) == "OnStateTransition"]
    assert len(handlers) == 1 and handlers[0].kwargs["goal_state"] == "inactive"
    assert [e.kwargs["event"].kwargs["transition_id"] for e in handlers[0].kwargs["entities"]] \
        == [3]
    # The managed node's exit still ends the launch, as the plain one's does.
    exits = [a.args[0] for a in actions if _kind(a) == "RegisterEventHandler"
             and _kind(a.args[0]) == "OnProcessExit"]
    assert managed[0] in [h.kwargs["target_action"] for h in exits]
    with pytest.raises(module.LaunchArgumentError, match="lifecycle"):
        module.launch_actions(_arguments(tmp_path, lifecycle="maybe"), str(PACKAGE_DIR),
                              str(CONFIG_DIR / "udt.yaml"))


def test_rviz_runs_only_when_installed(monkeypatch, tmp_path):
    module = _launch_module_with_stubs(monkeypatch)
    for installed in (None, {"package": "rviz2", "executable": "rviz2"}):
        created = []

        class Node(_Recorded):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                created.append(self)

        monkeypatch.setattr(module, "Node", Node)
        monkeypatch.setattr(module, "rviz_command", lambda installed=installed: installed)
        actions = module.launch_actions(_arguments(tmp_path, rviz="true"), str(PACKAGE_DIR),
                                        str(CONFIG_DIR / "udt.yaml"))
        rviz = [node for node in created if node.kwargs["name"] == "rviz2"]
        notes = [a.kwargs["msg"] for a in actions if _kind(a) == "LogInfo"]
        if installed is None:
            assert not rviz
            assert any("rviz2 is not installed" in note for note in notes), notes
            assert len(created) == 3  # the pipeline still runs
        else:
            assert len(rviz) == 1 and rviz[0].kwargs["executable"] == "rviz2"


def test_launch_test_file_finds_its_helper_modules_when_run_directly(tmp_path):
    """``launch_test test/test_launch.py`` runs the file without test/ on sys.path."""
    test_dir = str(PACKAGE_DIR / "test")
    script = ("import runpy, sys\n"
              "try:\n    runpy.run_path(sys.argv[1])\n"
              "except BaseException:\n    pass  # skipped where ROS 2 launch is missing\n"
              "import ros_testdata, installed\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != test_dir)
    result = subprocess.run([sys.executable, "-c", script, f"{test_dir}/test_launch.py"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


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
                         "lost_score_threshold": 0.2, "finetune": True, "mask": False}
    defaults, _ = method_overrides(spec, {}, True, -1.0, -1.0, False)
    assert "interp_factor" not in defaults and "lost_score_threshold" not in defaults


def test_publish_mask_asks_every_method_for_a_mask():
    """publish_mask (default on) sets each tracker's ``mask``: the method's, else the stage's."""
    for method in list_methods():
        config, _ = build_tracker_config({"method": method, "device": "cpu"})
        assert config.overrides["mask"] is True
        off, _ = build_tracker_config({"method": method, "device": "cpu", "publish_mask": False})
        assert off.overrides["mask"] is False
    with pytest.raises(ParameterError, match="publish_mask"):
        build_tracker_config({"method": "udt", "udt.mask": False})


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
