"""Measure the shared mask stage on devbench: J/F vs the filled box, and cost per frame.

The stage runs on the ground-truth boxes (oracle boxes: this isolates the mask from tracking;
``unsup-tracker eval --set mask=true`` gives the figures with each tracker's own boxes). Per kind
of stage it prints DAVIS J, F and J&F (%, equal-weight mean over sequences, frames after the
first present one) beside the same for the box filled as a mask, and the mean / 95th-percentile
wall time of ``MaskStage.update`` at devbench's 640x480 with OpenCV on ``--threads`` threads.
With ``--tracker udt`` it also times that method's ``track()`` with ``mask=false`` and
``mask=true`` (shipped weights, torch and OpenCV on ``--threads``), interleaved frame by frame on
the same devbench frames so machine load hits both alike. Timing on the shared development
machine is noisy. Nothing is asserted. Usage::

    python bench/bench_mask_stage.py [--threads 1] [--max-frames N] [--kinds colour,grabcut]
                                     [--tracker udt]
"""
import argparse
import time

import cv2
import numpy as np

from unsup_tracker.evaluation import devbench
from unsup_tracker.evaluation.dataset import load_dataset
from unsup_tracker.evaluation.metrics import mask_scores
from unsup_tracker.geometry import box_to_mask
from unsup_tracker.masks import MaskStage, MaskStageParams


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    parser.add_argument("--max-frames", type=int, default=None, help="frames per sequence")
    parser.add_argument("--kinds", default="colour,grabcut",
                        help="comma-separated stage kinds (or kind:key=value;key=value)")
    parser.add_argument("--tracker", default="", help="also time this method with/without mask")
    return parser.parse_args()


def time_tracker(method, sequences, threads):
    """Print the method's track() time with and without the mask stage, interleaved."""
    import torch

    from unsup_tracker import build_tracker

    torch.set_num_threads(threads)
    seconds = {False: [], True: []}
    for sequence in sequences:
        first = int(np.flatnonzero(sequence.present)[0])
        image = sequence.load_frame(first)
        trackers = {}
        for mask in (False, True):
            trackers[mask] = build_tracker(method, device="cpu", mask=mask)
            trackers[mask].init(image, sequence.groundtruth[first])
        for index in range(first + 1, len(sequence)):
            image = sequence.load_frame(index)
            for mask, tracker in trackers.items():
                start = time.perf_counter()
                tracker.track(image)
                seconds[mask].append(time.perf_counter() - start)
    for mask, values in seconds.items():
        ms = 1000 * np.asarray(values)
        print(f"{method} track() mask={str(mask).lower():<5s}: {ms.mean():6.2f} ms mean, "
              f"{np.percentile(ms, 95):6.2f} ms p95, {1000 / ms.mean():6.1f} FPS "
              f"({len(ms)} frames)")


def stage_params(text):
    kind, _, rest = text.partition(":")
    settings = {"kind": kind}
    for item in filter(None, rest.split(";")):
        key, value = item.split("=", 1)
        settings[key] = value
    return MaskStageParams.from_overrides(settings)


def main():
    args = parse_args()
    cv2.setNumThreads(args.threads)
    sequences = load_dataset(devbench.ensure_devbench())
    if args.max_frames:
        sequences = [s.truncated(args.max_frames) for s in sequences]
    kinds = args.kinds.split(",")
    per_kind = {k: [] for k in kinds}
    box_scores, seconds = [], {k: [] for k in kinds}
    for sequence in sequences:
        present = np.flatnonzero(sequence.present)
        frames = [(sequence.load_frame(i), sequence.groundtruth[i], sequence.load_mask(i))
                  for i in present]
        box_scores.append(np.mean([mask_scores(box_to_mask(b, m.shape), m)
                                   for _, b, m in frames[1:]], axis=0))
        for kind in kinds:
            stage = MaskStage(stage_params(kind))
            stage.init(frames[0][0], frames[0][1])
            scores = []
            for image, box, gt in frames[1:]:
                start = time.perf_counter()
                mask = stage.update(image, box)
                seconds[kind].append(time.perf_counter() - start)
                scores.append(mask_scores(mask, gt))
            per_kind[kind].append(np.mean(scores, axis=0))
        print(f"{sequence.name:<30s} box J {100 * box_scores[-1][0]:5.1f} "
              + " ".join(f"{k} J {100 * per_kind[k][-1][0]:5.1f}" for k in kinds), flush=True)
    print(f"\n{len(sequences)} devbench sequences, oracle boxes, {args.threads} OpenCV thread(s)")
    print("| stage | J | F | J&F | ms/frame mean | ms/frame p95 |")
    print("|---|---:|---:|---:|---:|---:|")
    j, f = np.mean(box_scores, axis=0)
    print(f"| filled box | {100 * j:.1f} | {100 * f:.1f} | {50 * (j + f):.1f} | - | - |")
    for kind in kinds:
        j, f = np.mean(per_kind[kind], axis=0)
        ms = 1000 * np.asarray(seconds[kind])
        print(f"| {kind} | {100 * j:.1f} | {100 * f:.1f} | {50 * (j + f):.1f} | "
              f"{ms.mean():.2f} | {np.percentile(ms, 95):.2f} |")
    if args.tracker:
        time_tracker(args.tracker, sequences, args.threads)


if __name__ == "__main__":
    main()
