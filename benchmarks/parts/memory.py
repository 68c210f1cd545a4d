"""Peak memory of the step, ours and the tutorial's, at each size and precision; the largest size
whose single pass fits in the machine's memory (the program's own figure, cgroup limit included); and
the start-up of a fresh process to its first iteration."""

import sys
import time

from neural_style.model.memory import total_memory_bytes
from neural_style.model.tf_setup import onednn_enabled
from parts.baseline import TutorialBaseline
from parts.ours import STEP_FLAGS, build_job, pass_images, planned_run, timed_iterations
from parts.report import straight_line
from parts.workers import run_worker

TITLE = "Peak memory of the step"

STARTUP_STAGES = {
    "imported": "Python and TensorFlow started, project imported",
    "planned": "run planned (style_transfer.plan: inputs read and checked, VGG19 weights loaded from the cache)",
    "built": "images, network, style targets and optimizer built (passes.build_optimizer)",
    "first_iteration": "first iteration done (tracing and compiling the step included)",
}


def worker(size_px, iterations, implementation, precision, process_started):
    """Peak resident memory of `iterations` steps of one implementation alone in one precision, and the
    moments (on the system-wide monotonic clock, so comparable with the parent's) at which start-up
    stages ended."""
    onednn_enabled()  # TensorFlow comes in on first use; a run's first is resolving --precision auto
    moments = {"imported": time.monotonic()}
    run, weights = planned_run(size_px, *STEP_FLAGS, "--precision", precision)
    moments["planned"] = time.monotonic()
    content, styles, start = pass_images(run.settings)
    if implementation == "ours":
        optimizer = build_job(run.settings, weights, content, styles, start)
        moments["built"] = time.monotonic()
        timed_iterations(optimizer, 1)
        moments["first_iteration"] = time.monotonic()
        timed_iterations(optimizer, iterations - 1)
    else:
        baseline = TutorialBaseline(run.settings, weights, content, styles, start, precision)
        moments["built"] = time.monotonic()
        baseline.timed_iterations(iterations)
    height, width = content.shape[:2]
    stages_s = {stage: moment - process_started for stage, moment in moments.items()}
    return {"height": height, "width": width, "peak_bytes": peak_resident_bytes(), "stages_s": stages_s}


def peak_resident_bytes():
    """VmHWM: the most resident memory this process has held."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def part(args, precisions):
    memories = {}
    for size_px in args.sizes:
        print(f"{size_px} px: peak memory ...", file=sys.stderr, flush=True)
        memories[size_px] = {
            precision: {
                implementation: run_worker(
                    "memory",
                    size_px=size_px,
                    iterations=args.memory_iterations,
                    implementation=implementation,
                    precision=precision,
                    process_started=time.monotonic(),
                )
                for implementation in ("ours", "baseline")
            }
            for precision in precisions
        }
    return [
        "Resident set high-water mark (VmHWM) of a fresh process per size, precision and implementation running "
        f"{args.memory_iterations} iterations (Adam); it includes TensorFlow itself.",
        "",
        *memory_table(memories),
        "",
        f"### Start-up to the first iteration (ours, {precisions[0]})",
        "",
        "The fresh process of one size above, weights already cached.",
        "",
        *startup_table(args.startup_size, memories[args.startup_size][precisions[0]]["ours"]),
    ]


def largest_fitting_size(memories, memory_bytes):
    """(long side px, bytes per pixel, base bytes) of the largest image of the photo's aspect ratio whose
    single pass would fit in memory_bytes, by a least-squares line through (pixels, peak) of the sizes
    measured; None with fewer than two sizes."""
    points = [(m["height"] * m["width"], m["peak_bytes"]) for m in memories.values()]
    if len(points) < 2:
        return None
    base, slope = straight_line(points)
    any_memory = next(iter(memories.values()))
    aspect = max(any_memory["height"], any_memory["width"]) / min(any_memory["height"], any_memory["width"])
    pixels = (memory_bytes - base) / slope
    return int((pixels * aspect) ** 0.5), slope, base


def memory_table(memories):
    """memories: {size: {precision: {"ours": ..., "baseline": ...}}}, the program's precision first."""
    precisions = list(next(iter(memories.values())))
    header = ["size", "image (w x h)"]
    for precision in precisions:
        header += [f"ours, {precision} GiB", f"tutorial, {precision} GiB"]
    lines = ["| " + " | ".join(header) + " |", "|---:" * len(header) + "|"]
    for size_px, by_precision in memories.items():
        ours = by_precision[precisions[0]]["ours"]
        cells = [str(size_px), f"{ours['width']} x {ours['height']}"]
        for precision in precisions:
            cells += [f"{by_precision[precision][name]['peak_bytes'] / 2**30:.2f}" for name in ("ours", "baseline")]
        lines.append("| " + " | ".join(cells) + " |")
    memory_bytes = total_memory_bytes()
    fit = largest_fitting_size({size: m[precisions[0]]["ours"] for size, m in memories.items()}, memory_bytes)
    if fit is None:
        lines += ["", "Largest size in one pass: needs two sizes or more to extrapolate."]
    else:
        long_side_px, slope, base = fit
        lines += [
            "",
            f"Largest size whose single pass (ours, {precisions[0]}) fits in this machine's "
            f"{memory_bytes / 2**30:.1f} GiB: about **{long_side_px} px** long side, extrapolated (not measured) "
            f"from a straight line through the peaks above: {base / 2**30:.2f} GiB + {slope / 1024:.2f} KiB per pixel.",
        ]
    return lines


def startup_table(size_px, memory):
    stages = memory["stages_s"]
    lines = [
        f"| stage, {size_px} px ({memory['width']} x {memory['height']}) | seconds since process start |",
        "|---|---:|",
    ]
    return lines + [f"| {name} | {stages[stage]:.1f} |" for stage, name in STARTUP_STAGES.items()]
