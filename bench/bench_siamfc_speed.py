"""SiamFC-family speed: s2siamfc and pul ``track()`` (three-scale search) next to KCF and CSRT.

All trackers run in the same process on the same frames, interleaved frame by frame, so a busy
shared machine slows them alike. Frames: opencv-doc's box.mp4 (640x480, the demo's clip and
initial box) when present, else a synthetic 640x480 clip. For every tracker it prints the
median and mean wall time per ``track()`` call (and the FPS they imply), and the process CPU
time per call (all threads; independent of other processes' load, so comparable between runs
on a busy machine).

``--variants`` also times SiamFC backbone widths with the same tracker, the measurement behind
the default network (models/siamfc.py): the paper's AlexNet layout, a half-width network and
the default. ``--backbones`` times the two initialisations of models/backbones.py with the same
tracker: the scratch trunk and the ImageNet EfficientNet-Lite0 (stage 3, stride 8), the latter
with SiamFC's three search crops per frame and with one search crop against three template
scales (``scale_mode``), at 127/255 and at 95/191 px. ``--finetune`` times ``init`` with
first-frame fine-tuning (budget = the methods' default ``finetune_seconds``). ``--usot``
times USOT (methods/usot, fresh weights) as configured, without its memory branch
(``memory_weight`` 0), with the paper's 255 search crop, and with 64-channel heads: the
measurements behind the decisions in methods/usot/model.py. ``--instance-sizes`` times
s2siamfc and pul at other search patch sides (the trackers' ``instance_size``).

Threads default to 1: on this shared 2-core machine two torch threads per process measured
contention, not the trackers (at a load average of 7 a 2-thread run gave s2siamfc 4.4 FPS and
KCF 9.1 FPS; the same frames with 1 thread 55 FPS and 16 FPS). ``--threads 2`` on an idle
machine is the figure for a dedicated CPU.

Speed does not depend on the weights, so trackers use the shipped checkpoint when there is one
and fresh weights otherwise (said in the output). Nothing is asserted. Usage::

    python bench/bench_siamfc_speed.py [--frames 150] [--threads 1] [--variants] [--backbones]
        [--finetune] [--usot] [--instance-sizes 255,223,191]
"""
import argparse
import time

import cv2
import numpy as np
import torch


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150, help="frames tracked per tracker")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--variants", action="store_true",
                        help="also time other SiamFC backbone widths")
    parser.add_argument("--backbones", action="store_true",
                        help="also time the scratch and ImageNet (Lite0) backbones")
    parser.add_argument("--usot", action="store_true",
                        help="also time USOT variants (search size, heads' width, memory)")
    parser.add_argument("--finetune", action="store_true",
                        help="also time init() with first-frame fine-tuning")
    parser.add_argument("--instance-sizes", default="",
                        help="comma-separated search patch sides (e.g. 255,223,191): also time "
                             "s2siamfc and pul with each (tracker parameter instance_size)")
    return parser.parse_args()


def load_frames(count):
    """(frames, init box, description)."""
    try:
        from unsup_tracker.ros.demo import DEMO_INIT_BOX, DEMO_VIDEO
        from unsup_tracker.sample_data import find_sample_video
        capture = cv2.VideoCapture(str(find_sample_video(DEMO_VIDEO)))
        frames = []
        while len(frames) < count + 1:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
        if len(frames) >= 2:
            return frames, DEMO_INIT_BOX, f"opencv-doc {DEMO_VIDEO}, {len(frames) - 1} frames"
    except (ImportError, FileNotFoundError, OSError):
        pass
    rng = np.random.default_rng(0)
    background = cv2.resize((rng.random((48, 64, 3)) * 255).astype(np.uint8), (640, 480))
    patch = (rng.random((80, 80, 3)) * 255).astype(np.uint8)
    frames = []
    for t in range(count + 1):
        frame = background.copy()
        x, y = 200 + int(60 * np.sin(t / 20)), 150 + int(40 * np.cos(t / 25))
        frame[y:y + 80, x:x + 80] = patch
        frames.append(frame)
    return frames, (200.0, 190.0, 80.0, 80.0), f"synthetic 640x480, {count} frames"


class OpenCVTracker:
    def __init__(self, factory):
        self.factory = factory

    def init(self, frame, box):
        self.tracker = self.factory()
        self.tracker.init(frame, tuple(int(round(v)) for v in box))

    def track(self, frame):
        return self.tracker.update(frame)


def backbone_trackers():
    """SiamFC trackers over each backbone and scale mode (fresh weights: speed only)."""
    from unsup_tracker.models.siamfc import build_siamfc
    from unsup_tracker.models.siamfc_tracker import SiamFCParams, SiamFCTracker
    lite0 = {"backbone": {"name": "efficientnet_lite0"}, "template_cells": 8}
    small = {**lite0, "exemplar_size": 95, "instance_size": 191, "template_cells": 6}
    variants = {
        "scratch, 3 search crops": ({}, "search"),
        "lite0 127/255, 3 search crops": (lite0, "search"),
        "lite0 127/255, 1 search x 3 templates": (lite0, "template"),
        "lite0 95/191, 3 search crops": (small, "search"),
        "lite0 95/191, 1 search x 3 templates": (small, "template"),
    }
    return {label: SiamFCTracker(build_siamfc(config).eval(), SiamFCParams(scale_mode=mode),
                                 torch.device("cpu"))
            for label, (config, mode) in variants.items()}


def usot_trackers():
    """USOT as configured and its variants (fresh weights: speed only)."""
    from unsup_tracker.methods.usot.model import build_usot
    from unsup_tracker.methods.usot.tracker import USOTParams, USOTTracker
    variants = {
        "usot 127/223, 32 ch, memory N_q 7": ({}, {}),
        "usot 127/223, 32 ch, no memory": ({}, {"memory_weight": 0.0}),
        "usot 127/255, 32 ch, memory N_q 7": ({"instance_size": 255},
                                              {"small_instance_size": 271}),
        "usot 127/223, 64 ch, memory N_q 7": ({"channels": 64}, {}),
    }
    return {label: USOTTracker(build_usot(config).eval(), USOTParams.from_overrides(params),
                               torch.device("cpu"))
            for label, (config, params) in variants.items()}


def build_trackers(with_variants, with_backbones=False, with_usot=False, instance_sizes=()):
    from unsup_tracker import UNTRAINED, build_tracker, get_method
    from unsup_tracker.models.siamfc import build_siamfc
    from unsup_tracker.models.siamfc_tracker import SiamFCParams, SiamFCTracker
    trackers = {}
    for method in ("s2siamfc", "pul"):
        spec = get_method(method)
        weights = None if spec.shipped_checkpoint.is_file() else UNTRAINED
        label = f"{method} ({'shipped' if weights is None else 'untrained'} weights)"
        trackers[label] = build_tracker(method, weights, device="cpu")
        for size in instance_sizes:
            trackers[f"{method} instance_size {size}"] = build_tracker(
                method, weights, device="cpu", instance_size=size)
    if with_variants:
        variants = {
            "siamfc alexnet 96-256-384-384-256 k11": {"channels": [96, 256, 384, 384, 256],
                                                      "conv1_kernel": 11},
            "siamfc half 48-128-192-192-128 k7": {"channels": [48, 128, 192, 192, 128]},
            "siamfc default 32-96-128-128-96 k7": {},
        }
        for label, config in variants.items():
            model = build_siamfc(config).eval()
            trackers[label] = SiamFCTracker(model, SiamFCParams(), torch.device("cpu"))
    if with_backbones:
        trackers.update(backbone_trackers())
    if with_usot:
        trackers.update(usot_trackers())
    trackers["opencv KCF"] = OpenCVTracker(cv2.TrackerKCF.create)
    trackers["opencv CSRT"] = OpenCVTracker(cv2.TrackerCSRT.create)
    return trackers


def main():
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cv2.setNumThreads(max(args.threads, 1))
    frames, box, description = load_frames(args.frames)
    sizes = [int(size) for size in args.instance_sizes.split(",") if size.strip()]
    trackers = build_trackers(args.variants, args.backbones, args.usot, sizes)
    print(f"frames: {description}; torch threads {torch.get_num_threads()}; "
          f"torch {torch.__version__}, OpenCV {cv2.__version__}")
    for tracker in trackers.values():
        tracker.init(frames[0], box)
        tracker.track(frames[1])                   # warm-up: first-call allocations
    wall = {name: [] for name in trackers}
    cpu = {name: [] for name in trackers}
    for frame in frames[1:]:
        for name, tracker in trackers.items():
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            tracker.track(frame)
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(time.process_time() - cpu_start)
    print(f"{'tracker':42s} {'median ms':>9s} {'FPS@med':>8s} {'mean ms':>8s} {'FPS@mean':>8s} "
          f"{'CPU ms':>7s}")
    for name in trackers:
        median, mean = np.median(wall[name]) * 1e3, np.mean(wall[name]) * 1e3
        print(f"{name:42s} {median:9.1f} {1e3 / median:8.1f} {mean:8.1f} {1e3 / mean:8.1f} "
              f"{np.mean(cpu[name]) * 1e3:7.1f}")
    if args.finetune:
        print("init() with first-frame fine-tuning (finetune=True, method defaults):")
        for name, tracker in trackers.items():
            if not hasattr(tracker, "finetune_hook") or tracker.finetune_hook is None:
                continue
            tracker.init(frames[0], box, finetune=True)          # warm-up
            times, steps = [], []
            for _ in range(3):
                start = time.perf_counter()
                tracker.init(frames[0], box, finetune=True)
                times.append(time.perf_counter() - start)
                steps.append(tracker.finetune_report.steps)
            print(f"  {name:40s} init {np.median(times) * 1e3:7.1f} ms, steps {steps}, "
                  f"budget {tracker.params.finetune_seconds:g} s")


if __name__ == "__main__":
    main()
