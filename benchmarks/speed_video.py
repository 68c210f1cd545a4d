"""The video part of benchmarks/speed_benchmark.py: a later frame of a real clip, today's code against
this branch. A clip (--video-clip; by default box.mp4 of ../shared/videos from frame 120, where its hand
starts moving, --video-first-frame) is painted by `style_transfer.py` itself, run as a process from each
code tree with the default settings but --size (384 px; --quick: 128 px, and 10 + 5 iterations) and
the frames (--video-frames from the first).
The whole runs go one at a time, alternating: today's, this branch's, today's, this branch's... for
--rounds rounds, each run alone on the machine.

Timed by the modification times of the frame files each run writes (frames/00001.png, ...), the same
in both trees and independent of the program's own clocks:
- the first frame's time: from the command to its file, the whole start-up (TensorFlow, the weights,
  the style targets) and the still image's passes in it;
- a later frame's time: from the previous frame's file to its own, everything the program does for
  that frame: recording the previous frame (its TensorBoard image, removing its checkpoints), reading
  and resizing the input frame, the optical flow and its reliability, the warped previous picture,
  building the optimizer and tracing its functions, the iterations, the loss log and checkpoint at its
  last step, and checking, encoding and writing the picture.
The ratio is this branch's median later frame over today's, all rounds' later frames together.

Beside the time, what the run painted, so that "the same flicker and losses" can be read off: the
flicker of its frames by the independent referee (benchmarks/referee.py, which shares no code with the
method: Farneback's flow on the input frames, read here with OpenCV), the mean over the later frames;
and the losses at each later frame's last step, from its losses.csv: content, style and total (the
program's total, the temporal term in it). Standard library only at import: the speed benchmark's
workers import this module, and their start-up is timed.
"""

import os
import statistics
import sys

from speed_runs import Run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = os.path.join(os.path.dirname(REPO), "shared", "videos", "box.mp4")
FIRST_FRAME = 120  # box.mp4's hand starts moving here
SIZE_PX, QUICK_SIZE_PX = 384, 128
QUICK_FLAGS = ("--iterations", "10", "--frame-iterations", "5")  # flags both trees have


def video_flags(clip, first_frame, size_px, frame_count, quick):
    """style_transfer.py's flags of the clip's runs: the defaults but the size and the frames."""
    flags = ["--content", clip, "--first-frame", str(first_frame), "--frames", str(frame_count)]
    return [*flags, "--size", str(size_px), *(QUICK_FLAGS if quick else ())]


def run_video(codes, clip, first_frame, size_px, frame_count, rounds, quick):
    """[(round, code, figures)]: each code tree's run of the clip, alternating, rounds times."""
    if not os.path.isfile(clip):
        sys.exit(f"speed benchmark: the video part needs {clip}")
    flags, results = video_flags(clip, first_frame, size_px, frame_count, quick), []
    for number in range(1, rounds + 1):
        for code, code_dir in codes.items():
            run = Run(code_dir, flags)
            run.wait()
            results.append((number, code, painted_clip(run, clip, first_frame, frame_count)))
            run.close()
    return results


def painted_clip(run, clip, first_frame, frame_count):
    """{first_s, later_s: [each later frame's seconds], losses: [(content, style, total) of each later
    frame], flicker: the referee's mean over the later frames} of an ended run (see the docstring)."""
    frame_paths = run.files(os.path.join("*", "frames", "*.png"))
    if len(frame_paths) != frame_count:
        sys.exit(f"speed benchmark: {' '.join(run.process.args)} wrote {len(frame_paths)} of {frame_count} frames")
    first_s, later_s = frame_seconds(frame_paths, run.started_at)
    return {
        "first_s": first_s,
        "later_s": later_s,
        "losses": later_frame_losses(run.loss_rows(), frame_count),
        "flicker": referee_flicker(frame_paths, clip, first_frame),
    }


def frame_seconds(frame_paths, started_at):
    """(the first frame's seconds, [each later frame's seconds]) from the frame files' modification times
    and the time of the command (see the docstring)."""
    written_at = [os.path.getmtime(path) for path in frame_paths]
    return written_at[0] - started_at, [after - before for before, after in zip(written_at, written_at[1:])]


def later_frame_losses(rows, frame_count):
    """[(content, style, total)] at the last step of each frame after the first: the loss log's last row
    of the frame (rows are logged in the order they were done)."""
    last_rows = {int(row["frame"]): row for row in rows}
    keys = ("content", "style", "total")
    return [tuple(float(last_rows[frame][key]) for key in keys) for frame in range(2, frame_count + 1)]


def referee_flicker(frame_paths, clip, first_frame):
    """The referee's flicker of the painted frames, the mean over the later frames it judges (a scene cut
    it does not); None if it judges none."""
    import cv2
    import referee

    paintings = [cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB) for path in frame_paths]
    height_px, width_px = paintings[0].shape[:2]
    capture = cv2.VideoCapture(clip)
    for _ in range(first_frame):
        capture.grab()
    inputs = []
    for _ in paintings:
        _, frame = capture.read()
        small = cv2.resize(frame, (width_px, height_px), interpolation=cv2.INTER_AREA)
        inputs.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    capture.release()
    judged = [value for value, _ in referee.flicker(inputs, paintings) if value is not None]
    return statistics.mean(judged) if judged else None


def video_section(clip, first_frame, size_px, frame_count, results):
    """The table of each run, then each code's median later frame and the ratio of this branch's to today's."""
    lines = [
        f"## A later video frame, {size_px} px: {os.path.basename(clip)} from frame {first_frame}, "
        f"{frame_count} frames, "
        "whole runs one at a time, alternating",
        "",
        "| round | code | first frame, s | later frames, s | median later frame, s | flicker (referee) "
        "| each later frame's final losses: content / style / total |",
        "|---:|---|---:|---|---:|---:|---|",
    ]
    for number, code, clip in results:
        later = ", ".join(f"{seconds:.2f}" for seconds in clip["later_s"])
        losses = "; ".join(" / ".join(f"{value:.4g}" for value in frame) for frame in clip["losses"])
        lines.append(
            f"| {number} | {code} | {clip['first_s']:.1f} | {later} | {statistics.median(clip['later_s']):.2f} "
            f"| {format_flicker(clip['flicker'])} | {losses} |"
        )
    codes = list(dict.fromkeys(code for _, code, _ in results))
    medians = {
        code: statistics.median(s for _, c, clip in results if c == code for s in clip["later_s"]) for code in codes
    }
    today, ours = codes
    lines += [
        "",
        f"All rounds' later frames: median {medians[today]:.2f} s today, {medians[ours]:.2f} s this branch: "
        f"**{medians[ours] / medians[today]:.2f}x** (ours / today).",
    ]
    return lines


def format_flicker(value):
    return "not judged" if value is None else f"{value:.3g}"
