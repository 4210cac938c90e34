"""Quality and speed of USOT's moving-object discovery, measured on devbench's ground truth.

Reads the development benchmark through the evaluation side (``ensure_devbench`` and the OTB
loader): this is measurement, the training path (``open_sources``) keeps refusing benchmark
footage. For each flow variant and sequence it runs :func:`discover_frames` on the whole
sequence and reports, against the ground-truth boxes (frames with the target present):

* ``all``: IoU > 0.3 / > 0.5 rates of the pseudo boxes B' of every frame;
* ``dp``: the same on the frames whose candidate the DP picked;
* ``tmpl`` / ``mem``: USOT's Table 5 figures: ``--draws`` training instances per usable
  sequence, the template frame chosen as the loader does (best long-term frame score of
  ``int(3 / Q_v)`` draws) and its 4 memory frames (farthest 4 of 7 draws in its fragment);
* ``Qv``, ``use``: video quality and whether training would use the sequence;
* ``ms/f``: CPU time of discovery per frame (``time.process_time``, one OpenCV thread, so it
  depends little on the machine's load; flow dominates), and
  ``flows/f``: flow computations per frame (adaptive T_f can take several per node).

Overall rows pool frames (``all``, ``dp``) or instances (``tmpl``, ``mem``) over sequences.
Timing on the shared 2-core machine is still noisy (caches, frequency). Usage::

    python bench/bench_usot_discovery.py [--variants dis:medium:320 dis:fast:240 ...]
        [--per-sequence] [--draws 200] [--dataset PATH]
"""
import argparse
import time

import cv2
import numpy as np

from unsup_tracker.evaluation.dataset import load_dataset
from unsup_tracker.evaluation.devbench import ensure_devbench
from unsup_tracker.geometry import iou_xywh
from unsup_tracker_training.discovery import ClipDiscoverer, DiscoveryParams

DEFAULT_VARIANTS = ["dis:medium:320", "dis:fast:320", "dis:ultrafast:320", "dis:medium:240",
                    "dis:medium:160", "farneback:-:320"]


def parse_variant(text: str) -> DiscoveryParams:
    method, preset, side = text.split(":")
    settings = {"flow_method": method, "flow_side": int(side)}
    if method == "dis":
        settings["dis_preset"] = preset
    return DiscoveryParams.from_overrides(settings)


def rates(ious: list) -> tuple[float, float, int]:
    values = np.asarray(ious, dtype=np.float64)
    if not values.size:
        return float("nan"), float("nan"), 0
    return float(np.mean(values > 0.3)), float(np.mean(values > 0.5)), int(values.size)


def measure(frames, truth, params, draws, seed):
    discoverer = ClipDiscoverer(params)
    started = time.process_time()
    for frame in frames:
        discoverer.add(frame)
    clip = discoverer.finish()
    seconds = time.process_time() - started
    present = np.all(np.isfinite(truth), axis=1)
    overlap = np.zeros(len(frames))
    found = np.all(np.isfinite(clip.boxes), axis=1)
    overlap[found & present] = iou_xywh(clip.boxes[found & present], truth[found & present])
    picked = np.zeros(len(frames), dtype=bool)
    picked[clip.picked_frames] = True
    result = {"all": list(overlap[present]), "dp": list(overlap[present & picked]),
              "tmpl": [], "mem": [], "Qv": clip.video_quality, "use": clip.usable(params),
              "seconds": seconds, "flows": discoverer.flow_calls, "frames": len(frames),
              "fragment": float(np.mean(clip.fragment[:, 1] - clip.fragment[:, 0]))}
    if result["use"]:
        rng = np.random.default_rng(seed)
        for _ in range(draws):
            template = clip.pick_template_frame(rng, long_term=True)
            if present[template]:
                result["tmpl"].append(overlap[template])
            for memory in clip.pick_memory_frames(template, rng):
                if present[memory]:
                    result["mem"].append(overlap[memory])
    return result


def row(name, result, extra=""):
    parts = [f"{name:<28}"]
    for key in ("all", "dp", "tmpl", "mem"):
        r3, r5, n = rates(result[key])
        parts.append(f"{r3 * 100:6.1f}{r5 * 100:6.1f}{n:6d}" if n else f"{'-':>6}{'-':>6}{0:6d}")
    parts.append(extra)
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", help="OTB-layout folder (default: devbench, generated)")
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS,
                        help="method:preset:flow_side, e.g. dis:medium:320 farneback:-:320")
    parser.add_argument("--per-sequence", action="store_true", help="print every sequence")
    parser.add_argument("--draws", type=int, default=200, help="instances per usable sequence")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra DiscoveryParams for every variant")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    root = args.dataset or ensure_devbench()
    variants = [parse_variant(v) for v in args.variants]
    extra = dict(item.split("=", 1) for item in args.set)
    if extra:
        variants = [v.replace(**extra) for v in variants]
    totals = {name: {"all": [], "dp": [], "tmpl": [], "mem": [], "seconds": 0.0, "flows": 0,
                     "frames": 0, "used": 0, "sequences": 0, "fragment": []}
              for name in args.variants}
    per_sequence = []
    for sequence in load_dataset(root):
        frames = [sequence.load_frame(i) for i in range(len(sequence))]
        for name, params in zip(args.variants, variants):
            result = measure(frames, sequence.groundtruth, params, args.draws, args.seed)
            total = totals[name]
            for key in ("all", "dp", "tmpl", "mem"):
                total[key].extend(result[key])
            total["seconds"] += result["seconds"]
            total["flows"] += result["flows"]
            total["frames"] += result["frames"]
            total["used"] += int(result["use"])
            total["sequences"] += 1
            total["fragment"].append(result["fragment"])
            per_sequence.append((name, sequence.name, result))
    columns = ("all >.3 >.5 n", "dp >.3 >.5 n", "tmpl >.3 >.5 n", "mem >.3 >.5 n")
    header = f"{'':<28}" + "".join(f"{k:>18}" for k in columns)
    print(f"discovery on {root}: IoU > 0.3 / > 0.5 rates in %, n = frames or instances")
    if args.per_sequence:
        for name in args.variants:
            print(f"\n{name}\n{header}  Qv    use  ms/f")
            for variant, seq_name, result in per_sequence:
                if variant == name:
                    ms = 1000 * result["seconds"] / result["frames"]
                    print(row(seq_name, result, f"  {result['Qv']:.2f}  {str(result['use']):5}"
                                                f"{ms:5.1f}"))
    print(f"\noverall\n{header}  used  ms/f  flows/f  fragment")
    for name in args.variants:
        total = totals[name]
        ms = 1000 * total["seconds"] / max(total["frames"], 1)
        flows = total["flows"] / max(total["frames"], 1)
        print(row(name, total, f"  {total['used']:2d}/{total['sequences']:<2d}{ms:6.1f}"
                  f"{flows:8.2f}{np.mean(total['fragment']):9.1f}"))


if __name__ == "__main__":
    main()
