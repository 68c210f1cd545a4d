"""Benchmark of the style transfer step: speed against TensorFlow's tutorial (float32 and mixed
bfloat16) and against its own convolutions, where its time goes, peak memory of the step and of whole
runs, start-up time, and time to quality. Prints markdown and writes it to benchmarks/RESULTS.md.

    python benchmarks/benchmark.py                  # everything, about 80 minutes on 2 shared cores
    python benchmarks/benchmark.py --parts speed    # some of it: speed, profile, memory, run, quality, video
    python benchmarks/benchmark.py --quick          # a smoke run at 128 px, about a minute a part

Sizes are the long side of the result; the bundled photo's aspect ratio is kept, as style_transfer.py
does (512 px is 512x375). Every measurement runs in a worker process of its own (this script, started
with --worker), so that each starts with a fresh TensorFlow and its peak memory is its own. What runs
is the program's own API, as a user's run drives it: runs planned by style_transfer.plan and painted by
passes.stylize with observers of the parts' own, and single steps through the builders passes.stylize
uses. Each part is a module of benchmarks/parts/; this script runs the parts asked for and writes
their sections. See benchmarks/README.md for what each number means.
"""

import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# The program's modules come in through the parts; TensorFlow is imported on first use, only in the workers.
from parts import memory, profile, quality, report, speed, video, whole_run
from parts.baseline import TutorialBaseline as TutorialBaseline  # these five for tests/test_benchmark.py
from parts.ours import STEP_FLAGS as STEP_FLAGS
from parts.ours import build_job as build_job
from parts.ours import pass_images as pass_images
from parts.ours import project_settings as project_settings
from parts.quality import REFERENCE_ITERATIONS
from parts.workers import run_worker

RESULTS_PATH = os.path.join(REPO, "benchmarks", "RESULTS.md")

# Each part's module: its TITLE (its section's heading), part(args, precisions) (the section's lines)
# and the worker that measures in a fresh process, in the order the results file lists them.
PARTS = {
    "speed": speed,
    "profile": profile,
    "memory": memory,
    "run": whole_run,
    "quality": quality,
    "video": video,
}
WORKERS = {
    "machine": report.machine_worker,
    "speed": speed.worker,
    "profile": profile.worker,
    "memory": memory.worker,
    "quality": quality.worker,
    "video": video.worker,
}

QUICK = {  # --quick: a smoke run
    "sizes": [128],
    "startup_size": 128,
    "quality_size": 128,
    "run_size": 128,
    "profile_size": 128,
    "rounds": 1,
    "iterations": 2,
    "memory_iterations": 2,
    "quality_iterations": 2,
    "run_flags": ("--iterations", "2", "2"),
    "one_pass_sizes": [192, 256],
    "one_pass_iterations": 2,
    "video_size": 64,
    "video_frames": 2,
}


def argument_parser():
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 128 px, 2 iterations, 1 round; time to quality over 2 iterations; whole runs of 2 + 2 and 2",
    )
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024], help="long sides in px")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of ours and the baseline per size")
    p.add_argument("--iterations", type=int, default=2, help="timed iterations per round, after one compiling one")
    p.add_argument("--profile-size", type=int, default=512, help="size of the profiled steps")
    p.add_argument("--memory-iterations", type=int, default=2, help="iterations of each peak-memory process")
    p.add_argument("--startup-size", type=int, default=512, help="size of the start-up measurement; one of --sizes")
    p.add_argument("--quality-size", type=int, default=512, help="size of the time-to-quality runs")
    p.add_argument(
        "--quality-iterations",
        type=int,
        default=REFERENCE_ITERATIONS,
        help="iterations of the reference whose loss is the target",
    )
    p.add_argument(
        "--quality-budget",
        type=float,
        default=0.5,
        help="wall time of each of our settings, as a share of the original's time",
    )
    p.add_argument("--run-size", type=int, default=512, help="size of the whole default run measured")
    p.add_argument("--video-size", type=int, default=512, help="size of the video frames timed")
    p.add_argument("--video-frames", type=int, default=4, help="frames of the clip timed; the first is a still's run")
    p.add_argument(
        "--one-pass-sizes",
        nargs="*",
        type=int,
        default=[1024, 1536, 2048],
        help="sizes of the whole runs in one pass whose peak memory is measured",
    )
    p.add_argument("--one-pass-iterations", type=int, default=12, help="iterations of each one-pass run")
    p.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to measure (a loaded machine: a few at a time)",
    )
    p.add_argument("--output", default=RESULTS_PATH, help="markdown file for the results")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    return p


def parse_args(argv=None):
    p = argument_parser()
    args = p.parse_args(argv)
    values = {**vars(args), "run_flags": (), **(QUICK if args.quick else {})}
    if values["startup_size"] not in values["sizes"]:
        p.error(f"--startup-size {values['startup_size']} must be one of --sizes {values['sizes']}")
    return argparse.Namespace(**values)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        kind, arguments = args.worker
        print(json.dumps(WORKERS[kind](**json.loads(arguments))))
        return
    command = " ".join(["python benchmarks/benchmark.py", *(argv if argv is not None else sys.argv[1:])]).strip()
    machine = run_worker("machine")
    precisions = list(dict.fromkeys([machine["precision"], "float32"]))
    sections = read_sections(args.output)  # the parts not measured now keep what an earlier run wrote
    for name in args.parts:
        part = PARTS[name]
        started, load_at_start = time.perf_counter(), report.load_average()
        lines = part.part(args, precisions)
        provenance = report.provenance(command, args.output, machine, started, load_at_start)
        sections[part.TITLE] = ["", provenance, "", *lines, ""]
    text = results_text(sections)
    print(text)
    with open(args.output, "w") as f:
        f.write(text)


def read_sections(path):
    """{title: lines} of the "## " sections of an earlier results file, if there is one."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    sections, title = {}, None
    for line in lines:
        if line.startswith("## "):
            title = line[3:]
            sections[title] = []
        elif title is not None:
            sections[title].append(line)
    return sections


def results_text(sections):
    """The results file: every part's section that was measured now or before, in the order of PARTS."""
    text = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/benchmark.py` (benchmarks/README.md); each section says the command, code and "
        "machine that measured it.",
        "",
    ]
    for part in PARTS.values():
        if part.TITLE in sections:
            text += [f"## {part.TITLE}", *sections[part.TITLE]]
    return "\n".join(text)


if __name__ == "__main__":
    main()
