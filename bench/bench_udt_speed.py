"""UDT ``track()`` speed next to OpenCV's KCF and CSRT, same frames, same run.

Frames: a 640x480 textured scene (smoothed noise) with a textured target (80x100 by default,
``--target W H``) that moves and changes scale by +-25 %, so every tracker does its normal
per-frame work. UDT's cost does not depend on the target size (fixed network input), KCF's and
CSRT's grow with it. Each tracker is timed on
the identical frame sequence; rounds alternate between trackers so that load from other
processes on a shared machine hits all of them alike (a tracker's cost can depend on whether it
is on target, so the mean IoU is printed too). Each figure is the median over rounds of
the mean time per frame in a round. Speed is printed, never asserted.

    python bench/bench_udt_speed.py [--frames 200] [--rounds 5] [--threads 1 2]
                                    [--target W H] [--checkpoint untrained|PATH]
                                    [--variant input_size=48 ...]
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from unsup_tracker import UNTRAINED, build_tracker
from unsup_tracker.geometry import iou_xywh


def make_frames(count: int, target=(80, 100),
                seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` 640x480 BGR frames with a moving, scaling textured patch, and its boxes."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur((rng.random((600, 800, 3)) * 255).astype(np.uint8),
                                  (0, 0), 3)
    base_w, base_h = target
    texture = cv2.GaussianBlur((rng.random((base_h, base_w, 3)) * 255).astype(np.uint8),
                               (0, 0), 1.5)
    frames, boxes = [], []
    for index in range(count):
        phase = 2 * np.pi * index / max(count, 1)
        ox, oy = 60 + 40 * np.sin(phase), 50 + 30 * np.cos(phase)  # camera pan
        frame = background[int(oy):int(oy) + 480, int(ox):int(ox) + 640].copy()
        scale = 1.0 + 0.25 * np.sin(phase)
        w, h = int(round(base_w * scale)), int(round(base_h * scale))
        # Keep the (largest) patch inside the frame.
        cx = 320 + (310 - 0.625 * base_w) * 0.75 * np.sin(phase)
        cy = 240 + (230 - 0.625 * base_h) * 0.5 * (1.0 - np.cos(phase)) * 0.75
        x, y = int(round(cx - w / 2)), int(round(cy - h / 2))
        frame[y:y + h, x:x + w] = cv2.resize(texture, (w, h), interpolation=cv2.INTER_LINEAR)
        frames.append(frame)
        boxes.append((x, y, w, h))
    return frames, np.array(boxes, dtype=float)


class OpenCVTracker:
    """Minimal adapter so OpenCV trackers are timed through the same loop."""

    def __init__(self, factory):
        self.factory = factory

    def init(self, frame, box):
        self.tracker = self.factory()
        self.tracker.init(frame, tuple(int(v) for v in box))

    def track(self, frame):
        found, box = self.tracker.update(frame)
        return np.array(box, dtype=float) if found else np.full(4, np.nan)


def time_frames(tracker, frames, boxes) -> tuple[float, float, float]:
    """Mean wall time and mean process CPU time per ``track`` call (s), and the mean IoU.

    Means, not medians: with ``scale_interval > 1`` frames alternate between cheap and full
    searches, and FPS is frames over total time.
    """
    tracker.init(frames[0], boxes[0])
    wall, cpu, predicted = [], [], []
    for frame in frames[1:]:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = tracker.track(frame)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        predicted.append(getattr(result, "box", result))
    ious = np.nan_to_num(iou_xywh(np.array(predicted), boxes[1:]))
    return float(np.mean(wall)), float(np.mean(cpu)), float(np.mean(ious))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--target", type=int, nargs=2, action="append", metavar=("W", "H"),
                        help="target size in the first frame, repeatable (KCF's and CSRT's "
                             "cost grows with it); default: 80 100 and 160 200")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--checkpoint", default=UNTRAINED,
                        help="UDT weights (speed does not depend on them); default untrained")
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[,...]",
                        help="also time UDT with these parameter overrides (repeatable), "
                             "e.g. --variant input_size=48 --variant scale_interval=2")
    args = parser.parse_args()

    contenders = {"UDT (defaults)": build_tracker("udt", checkpoint=args.checkpoint,
                                                  device="cpu")}
    for variant in args.variant:
        overrides = dict(item.split("=", 1) for item in variant.split(",") if item)
        contenders[f"UDT {variant}"] = build_tracker("udt", checkpoint=args.checkpoint,
                                                     device="cpu", **overrides)
    contenders["OpenCV KCF"] = OpenCVTracker(cv2.TrackerKCF_create)
    contenders["OpenCV CSRT"] = OpenCVTracker(cv2.TrackerCSRT_create)

    print(f"torch {torch.__version__}, OpenCV {cv2.__version__}, {args.rounds} rounds")
    for target in args.target or [(80, 100), (160, 200)]:
        frames, boxes = make_frames(args.frames, tuple(target))
        print(f"\n== {len(frames) - 1} frames of 640x480, target {target[0]}x{target[1]} px "
              f"at the start (+-25 % scale)")
        for threads in args.threads:
            torch.set_num_threads(threads)
            cv2.setNumThreads(threads)
            rounds = {name: [] for name in contenders}
            for _ in range(args.rounds):
                for name, tracker in contenders.items():
                    rounds[name].append(time_frames(tracker, frames, boxes))
            report(rounds, threads)


def report(rounds: dict, threads: int) -> None:
    kcf = np.median([wall for wall, _, _ in rounds["OpenCV KCF"]])
    print(f"{threads} thread(s) (torch and OpenCV); wall time decides FPS, CPU time is the work "
          f"done (less sensitive to other processes):")
    for name, values in rounds.items():
        per_frame = float(np.median([wall for wall, _, _ in values]))
        cpu = float(np.median([cpu for _, cpu, _ in values]))
        print(f"  {name:<34} {per_frame * 1e3:7.2f} ms/frame {1.0 / per_frame:7.1f} FPS"
              f" ({kcf / per_frame:4.2f}x KCF)  CPU {cpu * 1e3:6.2f} ms/frame"
              f"  mean IoU {values[0][2]:.2f}")


if __name__ == "__main__":
    main()
