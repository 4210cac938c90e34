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
r"""Show what moving-object discovery finds: an OTB-layout folder of the discovered boxes.

    python -m unsup_tracker_training.discover --data clip.mp4 --data run.mcap --out runs/found \\
        [--preview] [--set flow_side=240] [--topic /camera/image_raw] [--no-cache]

For every clip of every source (videos, image sequences, rosbag2 sqlite3/MCAP; the same
detection and the same refusal of development-benchmark footage as ``unsup-tracker-train``)
it writes ``OUT/<source>[_clip<k>]/``:

* ``img/0001.jpg ...`` the frames and ``groundtruth_rect.txt`` the pseudo boxes B' (1-based
  OTB convention, ``0,0,0,0`` where nothing was found), so the folder loads as a dataset
  (``unsup_tracker.evaluation.dataset.load_dataset``);
* ``frames.csv``: per frame whether the DP picked its candidate, ``Q_f``, the fragment
  ``T_l, T_u`` and the flow interval at nodes; ``discovery.json``: ``Q_v``, the corner
  frequency, whether training would use the clip, the settings;
* with ``--preview``: ``preview/0001.png ...``, each frame with the pseudo box (green on
  DP-picked frames, yellow where interpolated), the frame's candidate boxes (thin red) and the
  flow-distance region of picked frames tinted.

``OUT/list.txt`` lists the clip folders. Discoveries are cached per source
(:class:`~unsup_tracker_training.discovery.DiscoveryCache`), so a second run with the same
settings only rewrites the folders. Exit status: 0 done, 2 bad arguments or data.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from unsup_tracker.evaluation.dataset import write_otb_boxes
from unsup_tracker.params import UnknownParameterError

from .cli import parse_set
from .discovery import ClipDiscovery, DiscoveryCache, DiscoveryParams, discover_source
from .sources import IMAGES_AS_CHOICES, DataError, Source, open_sources

PROG = "python -m unsup_tracker_training.discover"
LOG = logging.getLogger("unsup_tracker_training.discover")


def clip_folder_name(source: Source, clip: ClipDiscovery, clips: int) -> str:
    """Folder name of a clip: the source's name, with ``_clip<k>`` when it has several."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", source.name).strip("._") or "source"
    return name if clips == 1 else f"{name}_clip{clip.clip_id}"


def draw_preview(frame: np.ndarray, clip: ClipDiscovery, index: int) -> np.ndarray:
    """Return ``frame`` with the pseudo box, the node's candidates and its region drawn."""
    image = frame.copy()
    mask = clip.region_mask(index)
    if mask is not None:
        tint = image.copy()
        tint[mask] = (0.5 * tint[mask] + 0.5 * np.array([255, 0, 255])).astype(np.uint8)
        image = tint
    nodes = np.flatnonzero(clip.node_frames == index)
    for node in nodes:
        for box in clip.candidates[node]:
            if np.all(np.isfinite(box)):
                cv2.rectangle(image, (int(box[0]), int(box[1])), (int(box[2]) - 1,
                              int(box[3]) - 1), (0, 0, 255), 1)
    box = clip.boxes[index]
    if np.all(np.isfinite(box)):
        picked = bool(nodes.size) and clip.picked[nodes[0]] >= 0
        colour = (0, 255, 0) if picked else (0, 255, 255)
        x, y, w, h = box
        cv2.rectangle(image, (int(round(x)), int(round(y))),
                      (int(round(x + w)) - 1, int(round(y + h)) - 1), colour, 2)
    cv2.putText(image, f"{index + 1} Qf {clip.quality[index]:.2f}", (5, 15),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def write_frame(folder: Path, clip: ClipDiscovery, index: int, frame: np.ndarray,
                preview: bool) -> None:
    """Write frame ``index`` of a clip (and its preview) into the clip's OTB folder."""
    name = f"{index + 1:04d}"
    if not cv2.imwrite(str(folder / "img" / f"{name}.jpg"), frame):
        raise OSError(f"cannot write {folder / 'img' / name}.jpg")
    if preview and not cv2.imwrite(str(folder / "preview" / f"{name}.png"),
                                   draw_preview(frame, clip, index)):
        raise OSError(f"cannot write {folder / 'preview' / name}.png")


def write_annotations(folder: Path, clip: ClipDiscovery, params: DiscoveryParams) -> None:
    """Write a clip's ``groundtruth_rect.txt``, ``frames.csv`` and ``discovery.json``."""
    write_otb_boxes(folder / "groundtruth_rect.txt", clip.boxes)
    interval = dict(zip(clip.node_frames.tolist(), clip.flow_intervals.tolist()))
    picked = set(clip.picked_frames.tolist())
    with open(folder / "frames.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "node", "flow_interval", "dp_picked", "frame_quality",
                         "fragment_low", "fragment_high"])
        for index in range(clip.num_frames):
            writer.writerow([index + 1, int(index in interval), interval.get(index, ""),
                             int(index in picked), f"{clip.quality[index]:.4f}",
                             int(clip.fragment[index, 0]) + 1, int(clip.fragment[index, 1]) + 1])
    info = clip.summary(params)
    info["settings"] = params.to_dict()
    with open(folder / "discovery.json", "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)


def write_source(source: Source, clips: list[ClipDiscovery], folders: list[Path],
                 params: DiscoveryParams, preview: bool) -> None:
    """Write the OTB folders of a source's clips, reading its frames once more."""
    by_id = {clip.clip_id: (clip, folder) for clip, folder in zip(clips, folders)}
    for folder in folders:
        (folder / "img").mkdir(parents=True, exist_ok=True)
        if preview:
            (folder / "preview").mkdir(exist_ok=True)
    counts = dict.fromkeys(by_id, 0)
    for clip_id, frame in source.iter_frames(1):
        if clip_id not in by_id:
            raise DataError(f"{source.path}: clip {clip_id} appeared on the second read only")
        clip, folder = by_id[clip_id]
        if counts[clip_id] < clip.num_frames:
            write_frame(folder, clip, counts[clip_id], frame, preview)
        counts[clip_id] += 1
    for clip_id, (clip, folder) in by_id.items():
        if counts[clip_id] != clip.num_frames:
            raise DataError(f"{source.path}: clip {clip_id} gave {counts[clip_id]} frames on the "
                            f"second read, {clip.num_frames} on the first")
        write_annotations(folder, clip, params)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Discover the moving object of unlabeled videos, image "
        "sequences and rosbag2 recordings (USOT's flow + DP) and write the boxes as an "
        "OTB-layout folder.")
    parser.add_argument("--data", action="append", required=True, metavar="PATH",
                        help="video, image-sequence folder, rosbag2 folder or .db3/.mcap file, "
                        "or a folder of those; repeat")
    parser.add_argument("--out", required=True, metavar="DIR", help="OTB-layout output folder")
    parser.add_argument("--topic", help="image topic of the bags (default: their only one)")
    parser.add_argument("--images-as", choices=IMAGES_AS_CHOICES, default="auto")
    parser.add_argument("--preview", action="store_true",
                        help="also write preview/NNNN.png with the boxes drawn")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="discovery setting (DiscoveryParams), e.g. flow_side=240; repeat")
    parser.add_argument("--cache-dir", help="discovery cache (default: <cache>/discovery)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        params = DiscoveryParams.from_overrides(parse_set(args.set))
        sources = open_sources(args.data, topic=args.topic, images_as=args.images_as)
    except (DataError, ValueError, UnknownParameterError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    stills = [s for s in sources if s.kind == "stills"]
    for source in stills:
        LOG.warning("%s: unrelated stills have no motion; skipped", source.path)
    sources = [s for s in sources if s.kind != "stills"]
    if not sources:
        print(f"{PROG}: error: no video, image sequence or bag among the data", file=sys.stderr)
        return 2
    cache = None if args.no_cache else DiscoveryCache(args.cache_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    try:
        for source in sources:
            started = time.perf_counter()
            clips = discover_source(source, params, cache)
            seconds = time.perf_counter() - started
            frames = sum(c.num_frames for c in clips)
            LOG.info("%s: %d clips, %d frames, %.1f s", source.describe(), len(clips), frames,
                     seconds)
            folders = []
            for clip in clips:
                name = clip_folder_name(source, clip, len(clips))
                while name in names:
                    name += "_"
                names.append(name)
                folders.append(out / name)
            write_source(source, clips, folders, params, args.preview)
            for clip, folder in zip(clips, folders):
                name = folder.name
                info = clip.summary(params)
                print(f"{name}: {info['frames']} frames, {info['picked_nodes']}/{info['nodes']} "
                      f"nodes picked, Q_v {info['video_quality']:.2f}, corner "
                      f"{info['corner_frequency']:.2f}, usable {info['usable']}")
    except (DataError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    with open(out / "list.txt", "w", encoding="utf-8") as handle:
        handle.write("".join(f"{name}\n" for name in names))
    print(f"wrote {len(names)} clip folder(s) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
