"""Seconds per iteration of our step against the tutorial's and against its convolutions alone, at
each size, in the precision the program picks here and in float32."""

import dataclasses
import functools
import statistics
import sys

from parts.baseline import ConvolutionFloor, TutorialBaseline, baseline_name
from parts.ours import STEP_FLAGS, build_job, pass_images, planned_run, timed_iterations
from parts.workers import run_worker

TITLE = "Seconds per iteration"


def worker(size_px, rounds, iterations_per_round):
    """Seconds per iteration of our step, of the tutorial baseline's and of the step's convolutions
    alone, in the precision the program picks and in float32 if that is another, taken in alternating
    rounds so that a change in the machine's speed during the run slows all alike."""
    run, weights = planned_run(size_px, *STEP_FLAGS)
    content, styles, start = pass_images(run.settings)
    height, width = content.shape[:2]
    steps = {}
    for precision in dict.fromkeys([run.settings.precision, "float32"]):
        settings = dataclasses.replace(run.settings, precision=precision)
        ours = build_job(settings, weights, content, styles, start)
        baseline = TutorialBaseline(settings, weights, content, styles, start, precision)
        baseline.same_problem(ours)
        floor = ConvolutionFloor(ours.loss.network, height, width)
        steps[precision] = {
            "ours": functools.partial(timed_iterations, ours),
            "baseline": baseline.timed_iterations,
            "convolutions": floor.timed_iterations,
        }
    first_s = {p: {name: step(1)[0] for name, step in named.items()} for p, named in steps.items()}  # compiling
    step_s = {p: {name: [] for name in named} for p, named in steps.items()}
    for _ in range(rounds):
        for p, named in steps.items():
            for name, step in named.items():
                step_s[p][name] += step(iterations_per_round)
    return {"height": height, "width": width, "first_s": first_s, "step_s": step_s}


def part(args, precisions):
    speeds = {}
    for size_px in args.sizes:
        print(f"{size_px} px: speed ...", file=sys.stderr, flush=True)
        speeds[size_px] = run_worker("speed", size_px=size_px, rounds=args.rounds, iterations_per_round=args.iterations)
    return speed_section(speeds, args.rounds, args.iterations)


def speed_table(speeds, precision):
    """Seconds per iteration of our step, the tutorial's and the convolutions alone, in one precision."""
    header = [
        "size",
        "image (w x h)",
        "ours s/it",
        "tutorial s/it",
        "convolutions alone s/it",
        "ours / tutorial",
        "ours / convolutions",
        "convolutions / tutorial",
        "first iteration, ours / tutorial s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---:" * len(header) + "|"]
    for size_px, speed in speeds.items():
        median = {name: statistics.median(times) for name, times in speed["step_s"][precision].items()}
        first_s = speed["first_s"][precision]
        cells = [
            str(size_px),
            f"{speed['width']} x {speed['height']}",
            *(f"{median[name]:.3f}" for name in ("ours", "baseline", "convolutions")),
            f"**{median['ours'] / median['baseline']:.2f}**",
            f"**{median['ours'] / median['convolutions']:.2f}**",
            f"{median['convolutions'] / median['baseline']:.2f}",
            f"{first_s['ours']:.1f} / {first_s['baseline']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def speed_section(speeds, rounds, iterations):
    precisions = list(next(iter(speeds.values()))["step_s"])
    lines = [
        f"Median of {rounds} x {iterations} iterations after one compiling iteration, one process per size, every "
        "step below taking its turn in each round. Ours is the optimizer passes.build_optimizer builds for a run "
        "(Adam, one pass), its run(...) timed by the Progress.step_s it reports; the tutorial is TensorFlow's "
        "tutorial's Keras code, in bfloat16 with the global policy mixed_bfloat16; the convolutions alone are "
        "the step's 26 convolutions (forward and input gradient, to conv5_1) and nothing else, the floor of "
        "the step (benchmarks/README.md).",
    ]
    for precision in precisions:
        chosen = " (the program's choice on this machine)" if precision == precisions[0] else ""
        lines += ["", f"### {precision}{chosen}: ours against {baseline_name(precision)}", ""]
        lines += speed_table(speeds, precision)
    return lines
