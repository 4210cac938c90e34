"""ROS latency benchmark: camera_node (640x480 rgb8, 30 Hz) -> tracker_node -> detections.

The graph and its records are :mod:`ros_graph`'s (shared with ``soak_ros.py``): camera_node
loops opencv-doc's box.mp4 (640x480, real footage), tracker_node tracks the tin from the demo's
initial box. Over a measurement window after a warm-up it reports:

- stamp -> detection latency (camera stamp to this process receiving the Detection2DArray),
  median and p95;
- the transport share: camera stamp -> tracker_node receiving the image (includes the
  camera's encoding and publishing), p50 / p95 and as a share of the total;
- queueing (receive -> worker start) and compute (worker start -> detections published);
- the fraction of published frames without a detection message: dropped as stale by the
  tracker (it was busy: the newest frame wins) or lost in transport.

Nothing here is asserted; it prints what it measured. Usage::

    .venv/bin/python bench/bench_ros_latency.py [--seconds 20] [--rate 30] [--method udt]
        [--checkpoint PATH|untrained] [--reliability best_effort|reliable] [--targets 1 2 4 8]
        [--json out.json] [--param s2siamfc.scale_mode=template] [--visualization]
"""
import argparse
import json
import sys
import time
from pathlib import Path

from ros_graph import Graph, add_graph_arguments, window_figures


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds ignored after init")
    add_graph_arguments(parser)
    parser.add_argument("--targets", type=int, nargs="+", default=[1],
                        help="targets tracked at once; several counts: one run each")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--visualization", action="store_true",
                        help="also run visualization_node (annotated frames, as in the demo)")
    return parser.parse_args()


#: Boxes (xywh, 640x480) of the targets after the first (the demo's tin).
EXTRA_BOXES = [(20, 20, 60, 60), (560, 20, 60, 60), (20, 400, 60, 60), (560, 400, 60, 60),
               (280, 20, 60, 50), (20, 210, 60, 60), (560, 210, 60, 60)]


def main():
    args = parse_args()
    if any(not 1 <= count <= 1 + len(EXTRA_BOXES) for count in args.targets):
        sys.exit(f"--targets must be in [1, {1 + len(EXTRA_BOXES)}]")
    results = [run(args, count) for count in args.targets]
    if args.json:
        Path(args.json).write_text(json.dumps(results if len(results) > 1 else results[0],
                                              indent=2))


def run(args, targets):
    """Run camera -> tracker with ``targets`` targets once; print and return the figures."""
    with Graph(args, visualization=args.visualization, max_targets=targets) as graph:
        stamp = graph.first_frame()
        for box in [None] + EXTRA_BOXES[:targets - 1]:
            response, _ = graph.init(stamp, box)
            if not response.success:
                sys.exit(f"~/init failed: {response.message}")
        window_start = time.time() + args.warmup
        time.sleep(args.warmup + args.seconds)
        window_end = time.time()
        time.sleep(1.0)  # let the window's last detections arrive
    figures = {"method": args.method, "checkpoint": graph.checkpoint or "shipped",
               "targets": targets, "visualization": args.visualization, "rate_hz": args.rate,
               "reliability": args.reliability,
               **window_figures(graph, window_start, window_end), "logs": str(graph.logs)}
    print(f"ROS latency, {targets} {args.method} target(s) ({figures['checkpoint']}), "
          f"640x480 rgb8 at {args.rate:g} Hz, "
          f"{'with' if args.visualization else 'without'} visualization_node, "
          f"{args.reliability}, {figures['window_s']} s window")
    print(f"  frames published {figures['frames_published']}, answered "
          f"{figures['frames_answered']} (with target {figures['frames_with_target']}); "
          f"dropped {figures['dropped_fraction']:.1%} "
          f"({figures['dropped_as_stale_by_tracker']} stale in the tracker, "
          f"{figures['lost_in_transport_or_unaccounted']} lost in transport)")
    for label, key in (("stamp -> detection", "latency_ms"), ("transport (image)", "transport_ms"),
                       ("queueing", "queueing_ms"), ("compute", "compute_ms"),
                       ("transport (detections)", "detections_transport_ms")):
        p50, p95 = figures[key]["p50"], figures[key]["p95"]
        print(f"  {label:24s} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    print(f"  transport share of latency {figures['transport_share_of_latency']:.1%}",
          flush=True)
    if args.visualization:
        print(f"  annotated frames {figures['frames_annotated']}, stamp -> annotated p50 "
              f"{figures['annotated_latency_ms']['p50']:.2f} ms", flush=True)
    return figures


if __name__ == "__main__":
    main()
