"""Where the step's time goes: TensorFlow's profiler on a few steps of ours and of the tutorial, the
op time summed by op type; and L-BFGS's own time outside the compiled loss and gradient."""

import collections
import functools
import glob
import os
import statistics
import sys
import tempfile
import time

from neural_style.model.tf_setup import tf
from parts.baseline import TutorialBaseline, baseline_name
from parts.ours import STEP_FLAGS, build_job, pass_images, planned_run, project_settings, timed_iterations
from parts.workers import run_worker

TITLE = "Where the step's time goes"


def worker(size_px, iterations):
    """Where the time of a step goes, ours and the tutorial's in the program's precision: TensorFlow's
    profiler traces `iterations` steps of each after two untraced ones. Returns, for each, the seconds
    per step of each op type and the steps' own seconds."""
    run, weights = planned_run(size_px, *STEP_FLAGS)
    settings = run.settings
    content, styles, start = pass_images(settings)
    ours = build_job(settings, weights, content, styles, start)
    baseline = TutorialBaseline(settings, weights, content, styles, start, settings.precision)
    profiles = {}
    for name, step in (("ours", functools.partial(timed_iterations, ours)), ("baseline", baseline.timed_iterations)):
        step(2)
        with tempfile.TemporaryDirectory(prefix="benchmark-trace-") as folder:
            tf.profiler.experimental.start(folder)
            step_s = step(iterations)
            tf.profiler.experimental.stop()
            op_s = op_seconds(folder)
        profiles[name] = {"step_s": step_s, "op_s": {op: seconds / iterations for op, seconds in op_s.items()}}
    height, width = content.shape[:2]
    return {
        "height": height,
        "width": width,
        "precision": settings.precision,
        "profiles": profiles,
        "lbfgs": lbfgs_overhead(size_px, weights, content, styles, start, iterations),
    }


def lbfgs_overhead(size_px, weights, content, styles, start, iterations):
    """L-BFGS's own time, outside the compiled loss and gradient, in a run of `iterations` iterations
    after two: scipy's set-up of the run (its bounds, once per pass, tile or video frame), and then per
    iteration its update and the image and gradient copied between TensorFlow and scipy."""
    optimizer = build_job(project_settings(size_px, "--scales", "1"), weights, content, styles, start)
    compiled, calls = optimizer.loss_and_gradient, []

    def timed_loss_and_gradient():
        started = time.perf_counter()
        result = compiled()
        calls.append((started, time.perf_counter() - started))
        return result

    optimizer.loss_and_gradient = timed_loss_and_gradient
    timed_iterations(optimizer, 2)
    calls.clear()
    run_started = time.perf_counter()
    step_s = timed_iterations(optimizer, iterations)
    setup_s = calls[0][0] - run_started
    return {
        "iterations": len(step_s),
        "step_s": sum(step_s),
        "evaluations": len(calls),
        "inside_s": sum(seconds for _, seconds in calls),
        "setup_s": setup_s,
    }


def op_seconds(trace_folder):
    """{op type: seconds} of the TensorFlow ops in a profiler trace, summed over TensorFlow's compute threads,
    whose events are named "op name:op type"."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # the trace's format; TensorFlow has no public reader

    space = xplane_pb2.XSpace()
    for path in glob.glob(os.path.join(trace_folder, "**", "*.xplane.pb"), recursive=True):
        with open(path, "rb") as f:
            space.MergeFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines if plane.name == "/host:CPU" else []:
            for event in line.events if line.name.startswith("tf_Compute") else []:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:
                    seconds[name.rsplit(":", 1)[1]] += event.duration_ps / 1e12
    return seconds


def part(args, precisions):
    print(f"{args.profile_size} px: profile ...", file=sys.stderr, flush=True)
    return profile_table(run_worker("profile", size_px=args.profile_size, iterations=args.rounds * args.iterations))


def profile_table(profile, rows=14):
    """The op types that take the most time in either step, ours and the tutorial's, in ms per step."""
    ours, baseline = (profile["profiles"][name] for name in ("ours", "baseline"))
    totals = collections.Counter(ours["op_s"]) + collections.Counter(baseline["op_s"])
    shown = [op for op, _ in totals.most_common(rows)]
    lines = [
        f"TensorFlow's profiler (tf.profiler.experimental) on {len(ours['step_s'])} steps of ours and of "
        f"{baseline_name(profile['precision'])} after two untraced ones, at {profile['width']} x "
        f"{profile['height']} in {profile['precision']}. Each op's time is summed over TensorFlow's threads (ops "
        "that run side by side both count), so a column's sum can exceed the step's own time; the last rows give both.",
        "",
        "| op type | ours, ms per step | tutorial, ms per step |",
        "|---|---:|---:|",
    ]
    for op in shown:
        lines.append(f"| {op} | {1000 * ours['op_s'].get(op, 0):.1f} | {1000 * baseline['op_s'].get(op, 0):.1f} |")
    rest = [sum(seconds for op, seconds in p["op_s"].items() if op not in shown) for p in (ours, baseline)]
    lines += [
        f"| every other op type | {1000 * rest[0]:.1f} | {1000 * rest[1]:.1f} |",
        f"| all ops | {1000 * sum(ours['op_s'].values()):.1f} | {1000 * sum(baseline['op_s'].values()):.1f} |",
        f"| the step, median wall time | {1000 * statistics.median(ours['step_s']):.1f} | "
        f"{1000 * statistics.median(baseline['step_s']):.1f} |",
    ]
    lbfgs = profile["lbfgs"]
    per_iteration_s = (lbfgs["step_s"] - lbfgs["inside_s"] - lbfgs["setup_s"]) / lbfgs["iterations"]
    lines += [
        "",
        f"L-BFGS (the program's default optimizer) at the same size, {lbfgs['iterations']} iterations after two: "
        f"{lbfgs['evaluations'] / lbfgs['iterations']:.2f} evaluations of the loss and gradient per iteration, "
        f"{lbfgs['step_s'] / lbfgs['iterations']:.3f} s per iteration. Outside the compiled loss and gradient: "
        f"**{lbfgs['setup_s']:.2f} s** of scipy's set-up before the first evaluation (once per L-BFGS run: per pass, "
        f"tile or video frame), then **{1000 * per_iteration_s:.0f} ms** per iteration (scipy's update, and the image "
        "and gradient copied between TensorFlow and scipy).",
    ]
    return lines
