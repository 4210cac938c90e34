"""Launch file, configs and tracker parameter mapping, checked without a ROS graph."""
import dataclasses
import importlib.util
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from unsup_tracker.params import TrackerParams, UnknownParameterError
from unsup_tracker.registry import get_method, list_methods
from unsup_tracker.ros.common import ParameterError
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
    if method not in methods:
        pytest.skip(f"method {method!r} is not registered yet")
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
