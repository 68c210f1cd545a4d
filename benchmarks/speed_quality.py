"""The time-to-quality part of benchmarks/speed_benchmark.py: today's default run and this branch's
schedules, whole runs of style_transfer.py at the final size --size, each one's loss at the final size
against seconds since its command, and when it reaches the loss today's default run ends at.

Two ways to run them, for two kinds of machine:
- all at once (the default): every run started together, at the start of the benchmark, so that on a
  shared machine the same load falls on each; the runs that end first leave the machine to the others.
- --alternate: whole runs one at a time, today's default, then each of this branch's schedules, and
  again for --rounds rounds; on a quiet machine each run has it to itself. Each round's figures are
  against that round's run of today's code; the table gives their medians over the rounds.
--alternate is a flag of its own, not implied by --rounds: --rounds also counts the video part's runs
(which always alternate), so a --rounds meant for those would otherwise change how these runs share
the machine.
"""

import collections
import os
import re
import statistics
import sys

from speed_runs import Run

# Schedules: flags of style_transfer.py. Each ends with at least today's 100 iterations at the final size,
# and its curve shows where the default picture's final loss is reached on the way: where the start image
# comes from, how many scales, how the iterations are split.
SCHEDULES = {
    "today's default (2 scales, 50 + 100, --init mix)": ("--scales", "2", "--iterations", "50", "100"),
    "2 scales, 50 + 100, --init content": ("--scales", "2", "--iterations", "50", "100", "--init", "content"),
    "3 scales, 25 + 50 + 100": ("--scales", "3", "--iterations", "25", "50", "100"),
    "2 scales, 100 + 100": ("--scales", "2", "--iterations", "100", "100"),
    "1 scale, 150": ("--scales", "1", "--iterations", "150"),
    "1 scale, 150, --init content": ("--scales", "1", "--iterations", "150", "--init", "content"),
}
# From LARGE_PX up, besides SCHEDULES: a quarter-size first pass costs a sixteenth of a final-size
# iteration there, so a third scale may buy the half-size and final passes a better start for little.
LARGE_PX = 1024
# fmt: off
LARGE_SCHEDULES = {
    "3 scales, 50 + 50 + 100": ("--scales", "3", "--iterations", "50", "50", "100"),
    "3 scales, 50 + 100 + 100": ("--scales", "3", "--iterations", "50", "100", "100"),
    "3 scales, 50 + 50 + 100, --init content":
        ("--scales", "3", "--iterations", "50", "50", "100", "--init", "content"),
}
# fmt: on
PICTURE_PX = 256  # the side of the final pictures --pictures writes, to look at side by side


def planned_runs(codes, size_px, schedule_names, quick):
    """[(run name, code tree, flags)]: today's default run, then this branch's schedules: today's default
    and those schedule_names name (if none: SCHEDULES, and LARGE_SCHEDULES from LARGE_PX up)."""
    today, ours = codes.values()
    offered = SCHEDULES | LARGE_SCHEDULES
    default = next(iter(SCHEDULES))
    if quick:
        chosen = {"today's default": ()}
    elif schedule_names:
        chosen = {name: offered[name] for name in [default, *(n for n in schedule_names if n != default)]}
    else:
        chosen = SCHEDULES | (LARGE_SCHEDULES if size_px >= LARGE_PX else {})
    planned = [("today's code, default run", today, ())]
    planned += [(f"this branch, {name}", ours, flags) for name, flags in chosen.items()]
    return [(name, code_dir, ("--size", str(size_px), *flags)) for name, code_dir, flags in planned]


def start_all(planned):
    """The planned runs, all started now: [(name, Run)]."""
    return [(name, Run(code_dir, flags)) for name, code_dir, flags in planned]


def run_one_at_a_time(planned, size_px, pictures_dir):
    """The planned runs one at a time, in order: [(name, figures)], a round of --alternate."""
    return [(name, finish(Run(code_dir, flags), name, size_px, pictures_dir)) for name, code_dir, flags in planned]


def finish_all(started, size_px, pictures_dir):
    """Each started run's figures (finish), once it has ended: [(name, figures)]."""
    return [(name, finish(run, name, size_px, pictures_dir)) for name, run in started]


def finish(run, name, size_px, pictures_dir):
    """{elapsed_s: to the last file the run wrote, peak_bytes, curve: [(seconds since the command, total
    loss)] of each step at size_px, earlier_iterations: {size_px: iterations} of the passes before}. All
    time outside the iterations (start-up, style targets, files) is counted before the first point."""
    peak_bytes = run.wait()
    elapsed_s = run.ended_at() - run.started_at
    all_rows = run.loss_rows()
    rows = [row for row in all_rows if int(row["size_px"]) == size_px]
    earlier_iterations = collections.Counter(int(row["size_px"]) for row in all_rows if int(row["size_px"]) != size_px)
    if any(int(row["tile"]) for row in rows):  # a tile's loss is not the picture's: no curve to compare
        sys.exit(f"speed benchmark: {' '.join(run.process.args)} refined its {size_px} px pass in tiles")
    if pictures_dir:
        keep_picture(run, name, pictures_dir)
    run.close()
    clock_s, curve = elapsed_s - sum(float(row["step_s"]) for row in rows), []
    for row in rows:
        clock_s += float(row["step_s"])
        curve.append((clock_s, float(row["total"])))
    return {"elapsed_s": elapsed_s, "peak_bytes": peak_bytes, "curve": curve, "earlier_iterations": earlier_iterations}


def keep_picture(run, run_name, pictures_dir):
    """The run's final picture, PICTURE_PX wide, as a JPEG named after the run."""
    import cv2

    (final_path,) = run.files(os.path.join("*", "*-final.png"))
    picture = cv2.imread(final_path)
    height_px = round(picture.shape[0] * PICTURE_PX / picture.shape[1])
    small = cv2.resize(picture, (PICTURE_PX, height_px), interpolation=cv2.INTER_AREA)
    file_name = "speed3-" + re.sub(r"[^a-z0-9]+", "-", run_name.lower()).strip("-") + ".jpg"
    cv2.imwrite(os.path.join(pictures_dir, file_name), small, [cv2.IMWRITE_JPEG_QUALITY, 85])


def time_to_loss_s(curve, target_loss):
    """The first time the curve is at or below target_loss; None if it never is."""
    return next((seconds for seconds, loss in curve if loss <= target_loss), None)


def iterations_to_loss(curve, target_loss):
    """How many of the curve's iterations it takes to be at or below target_loss; None if it never is."""
    return next((number for number, (_, loss) in enumerate(curve, start=1) if loss <= target_loss), None)


def pass_sizes(runs):
    """Every size (px) of the runs' earlier passes in a round, sorted."""
    return sorted({size for _, run in runs for size in run["earlier_iterations"]})


def todays_runs(rounds):
    """(today's final loss, today's wall seconds) of each round: its first run is today's code's."""
    return [runs[0][1]["curve"][-1][1] for runs in rounds], [runs[0][1]["elapsed_s"] for runs in rounds]


def floor_section(size_px, rounds, floors):
    """What each run's iterations cost at the least: the program and TensorFlow imported, then its
    earlier passes' iterations and its final-size iterations to today's final loss, each at a price per
    iteration at its size (floors: each round's floor worker on this code, which prices today's run's
    iterations too, measured after the round): its
    convolutions alone, and one evaluation of the loss and its gradient. Against the round's run of
    today's code."""
    targets, today_s = todays_runs(rounds)

    def median_price(kind, size):
        return statistics.median(floor[kind][str(size)] for floor in floors)

    imported_s = statistics.median(floor["imported_s"] for floor in floors)
    lines = [
        f"## The floor, {size_px} px: each run's iterations to today's final loss at the least they can cost",
        "",
        "After each round, in a new process: seconds from its start to the program and TensorFlow imported "
        f"(median {imported_s:.2f} s), and at each pass size two prices of an iteration: its 26 convolutions "
        "alone, forward and input gradient, nothing else (parts/baseline.py's ConvolutionFloor), and one "
        "evaluation of the loss and its gradient, the compiled call every optimizer makes "
        f"(ImageOptimizer.loss_and_gradient); medians at {size_px} px {median_price('convolutions_s', size_px):.3f} "
        f"and {median_price('evaluation_s', size_px):.3f} s. A run's floor is the import, then each of its "
        "iterations at its size's price: all of its earlier passes' iterations, and its final-size iterations "
        "up to the one that reached today's final loss. No change but fewer iterations can take a run below "
        "its convolutions' floor, and no optimizer that evaluates the loss once per iteration below its "
        "evaluations' floor.",
        "",
        "| run | earlier passes, iterations | final-size iterations to today's final loss | the run's own s "
        "| convolutions' floor s | / today | evaluations' floor s | / today | evaluations' floor in each round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for index, (name, _) in enumerate(rounds[0]):
        counts, reached_s, floors_s = [], [], {"convolutions_s": [], "evaluation_s": []}
        ratios = {kind: [] for kind in floors_s}
        for round_runs, floor, target, today in zip(rounds, floors, targets, today_s):
            run = round_runs[index][1]
            final_iterations = iterations_to_loss(run["curve"], target)
            if final_iterations is None:
                continue
            counts.append(final_iterations)
            reached_s.append(time_to_loss_s(run["curve"], target))
            for kind, seconds in floors_s.items():
                price = floor[kind]
                earlier_s = sum(count * price[str(size)] for size, count in run["earlier_iterations"].items())
                seconds.append(floor["imported_s"] + earlier_s + final_iterations * price[str(size_px)])
                ratios[kind].append(seconds[-1] / today)
        if not counts:
            lines.append(f"| {name} | - | not reached | - | - | - | - | - | - |")
            continue
        earlier_iterations = sorted(rounds[0][index][1]["earlier_iterations"].items())
        earlier = ", ".join(f"{count} at {size} px" for size, count in earlier_iterations)
        cells = [name, earlier or "-", f"{statistics.median(counts):g}", f"{statistics.median(reached_s):.1f}"]
        for kind in floors_s:
            cells += [f"{statistics.median(floors_s[kind]):.1f}", f"**{statistics.median(ratios[kind]):.2f}x**"]
        cells.append(", ".join(f"{ratio:.2f}x" for ratio in ratios["evaluation_s"]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def quality_section(size_px, rounds, how):
    """The table of each run's figures, medians over the rounds (each round's against its run of today's
    code, the first of the round), and every run's curve; `how` says how the runs shared the machine."""
    targets, today_s = todays_runs(rounds)
    lines = [
        f"## Time to quality, {size_px} px: the default picture's final loss {statistics.median(targets):.4g} "
        f"(today's code: {statistics.median(today_s):.1f} s)",
        "",
        how
        + (
            f" Medians over {len(rounds)} rounds, each against its round's run of today's code."
            if len(rounds) > 1
            else ""
        ),
        "",
        "| run | wall s | peak memory, GiB | final-size loss at its end | s to today's final loss "
        "| ratio to today | ratio in each round |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for index, (name, _) in enumerate(rounds[0]):
        runs = [round_runs[index][1] for round_runs in rounds]
        reached = [time_to_loss_s(run["curve"], target) for run, target in zip(runs, targets)]
        ratios = [seconds / baseline_s if seconds else None for seconds, baseline_s in zip(reached, today_s)]
        lines.append(
            f"| {name} | {statistics.median(run['elapsed_s'] for run in runs):.1f} "
            f"| {statistics.median(run['peak_bytes'] for run in runs) / 2**30:.2f} "
            f"| {statistics.median(run['curve'][-1][1] for run in runs):.4g} | {median_reached(reached, ratios)} "
            f"| {', '.join(f'{ratio:.2f}x' if ratio else 'not reached' for ratio in ratios)} |"
        )
    lines += ["", "The curves: the loss at the final size against seconds since the command, every 10th iteration.", ""]
    for number, round_runs in enumerate(rounds, start=1):
        for name, run in round_runs:
            points = ", ".join(f"{seconds:.0f} s {loss:.3g}" for seconds, loss in run["curve"][9::10])
            lines.append(f"- round {number}, {name}: {points}")
    return lines


def median_reached(reached, ratios):
    """The cells "s to today's final loss | ratio to today": medians over the rounds that reached it."""
    seconds = [value for value in reached if value]
    if not seconds:
        return "not reached | -"
    ratio = statistics.median(value for value in ratios if value)
    missed = f" (reached in {len(seconds)} of {len(reached)})" if len(seconds) < len(reached) else ""
    return f"{statistics.median(seconds):.1f}{missed} | **{ratio:.2f}x**"
