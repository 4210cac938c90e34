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
"""The ROS interfaces unsup_tracker needs are importable and match upstream exactly."""
import pathlib

import pytest

# RIHS01 hash of vision_msgs/msg/Detection2DArray as published by vision_msgs 4.x upstream.
DETECTION2DARRAY_RIHS01 = (
    "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968")
DETECTION2DARRAY = "vision_msgs/msg/Detection2DArray"


def _share(package):
    from ament_index_python.packages import get_package_share_directory
    return pathlib.Path(get_package_share_directory(package))


def test_init_track_fields():
    from unsup_tracker_interfaces.srv import InitTrack

    assert InitTrack.Request.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "box": "vision_msgs/BoundingBox2D",
        "method": "string",
        "finetune": "boolean",
    }
    assert InitTrack.Response.get_fields_and_field_types() == {
        "success": "boolean",
        "message": "string",
        "track_id": "string",
    }
    request = InitTrack.Request()
    request.box.center.position.x = 320.0  # vision_msgs 4.x layout
    request.box.size_x = 40.0
    assert request.box.center.position.x == 320.0


def test_vision_msgs_layout():
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    det = Detection2D()
    det.bbox.center.position.y = 2.5
    det.bbox.center.theta = 0.1
    det.id = "1"
    det.results.append(ObjectHypothesisWithPose())
    det.results[0].hypothesis.class_id = "target"
    det.results[0].hypothesis.score = 0.9
    arr = Detection2DArray(detections=[det])
    assert arr.detections[0].bbox.center.position.y == 2.5


def test_detection2darray_hash_installed():
    """The hash rosidl generated at build time (type description JSON in the share dir)."""
    import json

    data = json.loads((_share("vision_msgs") / "msg" / "Detection2DArray.json").read_text())
    hashes = {h["type_name"]: h["hash_string"] for h in data["type_hashes"]}
    assert hashes[DETECTION2DARRAY] == DETECTION2DARRAY_RIHS01


def test_detection2darray_hash_rosbags():
    """An independent implementation (rosbags) hashing the installed .msg definitions."""
    typesys = pytest.importorskip("rosbags.typesys")
    store = typesys.get_typestore(typesys.Stores.LATEST)
    types = {}
    for msg in sorted((_share("vision_msgs") / "msg").glob("*.msg")):
        types.update(typesys.get_types_from_msg(msg.read_text(), f"vision_msgs/msg/{msg.stem}"))
    store.register(types)
    assert store.hash_rihs01(DETECTION2DARRAY) == DETECTION2DARRAY_RIHS01


def test_detection2darray_hash_rclpy():
    """The hash the middleware announces for a live publisher."""
    import rclpy
    from rclpy.context import Context
    from vision_msgs.msg import Detection2DArray

    context = Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("test_interfaces_hash", context=context)
        try:
            node.create_publisher(Detection2DArray, "test_interfaces_detections", 1)
            infos = node.get_publishers_info_by_topic("test_interfaces_detections")
            assert len(infos) == 1
            type_hash = infos[0].topic_type_hash
            text = str(type_hash)
            if not text.startswith("RIHS01_"):  # TypeHash object: version + raw bytes
                text = "RIHS01_" + bytes(type_hash.value).hex()
            assert text == DETECTION2DARRAY_RIHS01
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
