"""PUL proposals: CPU time per frame and recall of annotated objects, per proposal method.

PUL's background-discrimination stage needs object proposals without a downloaded model
(:mod:`unsup_tracker.methods.pul.proposals`). This prints, for each method and working
resolution, the CPU time per frame (``time.process_time``, one OpenCV thread, so the figure does
not depend on the machine's load) and the recall of the development benchmark's ground-truth
boxes (a box counts as found when one kept proposal overlaps it at IoU >= 0.5), for the first
``--keep`` proposals (PUL keeps 64; the recipe samples fewer per frame).

The development benchmark's targets are photo cut-outs pasted onto real footage: they are more
salient than typical objects, so the recall favours saliency-like methods if anything.
Nothing is asserted. Usage::

    python bench/bench_pul_proposals.py --dataset DEVBENCH [--every 25] [--keep 64 16]
"""
import argparse
import time

import cv2
import numpy as np

from unsup_tracker.evaluation.dataset import load_dataset
from unsup_tracker.geometry import iou_xywh
from unsup_tracker.methods.pul.proposals import ProposalSettings, propose

VARIANTS = [
    ("selective_search", 320), ("selective_search", 160), ("selective_search", 112),
    ("saliency", 160), ("mser", 320), ("mser", 160), ("random", 160),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="OTB-layout folder (devbench)")
    parser.add_argument("--every", type=int, default=25, help="use every N-th frame")
    parser.add_argument("--max-side", type=int, default=480,
                        help="frames are downscaled to this, as the training sampler stores them")
    parser.add_argument("--keep", type=int, nargs="+", default=[64, 16])
    args = parser.parse_args()
    cv2.setNumThreads(1)
    frames = []
    for sequence in load_dataset(args.dataset):
        for index in range(0, len(sequence), args.every):
            box = sequence.groundtruth[index]
            if not np.all(np.isfinite(box)):
                continue
            image = sequence.load_frame(index)
            scale = min(1.0, args.max_side / max(image.shape[:2]))
            if scale < 1.0:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            frames.append((image, np.asarray(box, dtype=np.float64) * scale))
    print(f"{len(frames)} annotated frames from {args.dataset}")
    header = f"{'method':<18}{'side':>6}{'ms/frame':>10}{'kept':>7}"
    header += "".join(f"{'recall@' + str(k):>11}" for k in args.keep)
    print(header)
    for method, side in VARIANTS:
        settings = ProposalSettings(method=method, work_side=side, max_proposals=max(args.keep))
        rng = np.random.default_rng(0)
        seconds, kept, found = 0.0, 0, np.zeros(len(args.keep))
        for image, truth in frames:
            start = time.process_time()
            boxes = propose(image, settings, rng)
            seconds += time.process_time() - start
            kept += len(boxes)
            for slot, keep in enumerate(args.keep):
                top = boxes[:keep]
                if len(top) and iou_xywh(np.broadcast_to(truth, top.shape), top).max() >= 0.5:
                    found[slot] += 1
        line = f"{method:<18}{side:>6}{1000 * seconds / len(frames):>10.1f}"
        line += f"{kept / len(frames):>7.1f}"
        line += "".join(f"{f / len(frames):>11.2f}" for f in found)
        print(line)


if __name__ == "__main__":
    main()
