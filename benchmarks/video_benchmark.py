"""Benchmark of the video mode, judged by an independent referee (benchmarks/referee.py): flicker,
content distance and style loss against painting every frame on its own, and speed. Writes
benchmarks/VIDEO_RESULTS.md (its command at the top) and pictures of both side by side (docs/video/).

    python benchmarks/video_benchmark.py            # the full run, about 40 minutes on 2 shared cores
    python benchmarks/video_benchmark.py --quick    # a smoke run: 64 px, 4 frames, few iterations

Clips: the synthetic ones of benchmarks/clips.py (a textured disc over a flat field with a still
camera, a slow pan over a plain wall, a scene cut), made at 160x120 as PNG sequences, and the two real
clips of ../shared/videos/. For each, the same frames are painted twice with the same settings and seed:
  (a) alone: every frame by passes.stylize, as a still image (all its passes);
  (b) video mode: frames.stylize_video, as `style_transfer.py --content clip` paints them.
The referee's figures: flicker, the mean squared difference on 0..1 values between each painted frame and
the previous one warped by Farneback's flow between the input frames, on the pixels its forward-backward
check trusts, over the whole frame; content distance, ||F(painted) - F(input)||² / ||F(input)||² with
Keras' own VGG19 block4_conv2. The style loss is the program's own (passes.build_optimizer's), and the
method's own flicker (DIS flow, the method's reliability: flow.temporal_error) is kept beside, labelled.
Flicker and losses are over the frames after the first, which is made alike in (a) and (b); the
referee's flicker leaves out a scene cut (a transition it trusts under half of).
"""

import argparse
import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import style_transfer
import utils
from benchmarks import clips, referee
from neural_style.files import videos
from neural_style.files.disk import write_atomic
from neural_style.files.weights import load_weights
from neural_style.model.losses import style_targets
from neural_style.model.tf_setup import resolve_precision, tf
from neural_style.work import flow, frames, passes
from neural_style.work.observer import Observer

VIDEOS = os.path.join(os.path.dirname(REPO), "shared", "videos")
REAL_CLIPS = {"box.mp4": 120, "vtest.avi": 0}  # each clip's first frame: box.mp4's hand starts moving at 120
RESULTS_PATH = os.path.join(REPO, "benchmarks", "VIDEO_RESULTS.md")
PICTURES = os.path.join(REPO, "docs", "video")


class FrameCollector(Observer):
    """Keeps each finished frame's picture and the seconds it took."""

    def __init__(self):
        self.pictures, self.seconds = [], []
        self.clock = time.perf_counter()

    def frame_finished(self, frame, frames, picture):
        now = time.perf_counter()
        self.pictures.append(picture)
        self.seconds.append(now - self.clock)
        self.clock = now


def make_clips(folder, frame_count):
    """{name: (path, first frame)}: the synthetic clips written into folder, then the real ones."""
    made = {
        name: (clips.write_clip(make(frame_count), os.path.join(folder, name, "%04d.png")), 0)
        for name, make in clips.CLIPS.items()
    }
    return made | {name: (os.path.join(VIDEOS, name), first) for name, first in REAL_CLIPS.items()}


def clip_settings(clip, first_frame, frame_count, size_px, *flags):
    """style_transfer.py's settings for the clip, parsed by its own parser, the precision resolved as
    style_transfer.run resolves it."""
    settings = style_transfer.parse_args(
        ["--content", clip, "--first-frame", str(first_frame), "--frames", str(frame_count), "--size", str(size_px)]
        + list(flags)
    )
    settings = dataclasses.replace(settings, precision=resolve_precision(settings.precision))
    return settings


def input_frames(settings):
    """The frames the settings ask for, at the working size."""
    with videos.open_video(
        settings.content_image, settings.first_frame, settings.frame_count, settings.frame_every
    ) as clip:
        return [utils.resize(frame, *utils.fit_long_side(frame.shape, settings.size_px)) for frame in clip]


def alone(settings, styles, network, inputs):
    """(a): each frame painted as a still image, rounded to 8 bits as frames are written."""
    collector = FrameCollector()
    for index, frame in enumerate(inputs, start=1):
        picture = passes.stylize(settings, frame, styles, network, settings.size_px)
        collector.frame_finished(index, len(inputs), np.clip(np.rint(picture), 0, 255))
    return collector


def video_mode(settings, styles, network, inputs):
    """(b): the frames painted by the video mode."""
    collector = FrameCollector()
    frames.stylize_video(settings, iter(inputs), len(inputs), styles, network, collector)
    return collector


def judge(settings, styles, network, distance, inputs, pictures):
    """{figure: [its value for each frame after the first]}: the referee's, the program's style loss
    and the method's own flicker."""
    referee_flicker = referee.flicker(inputs, pictures)
    targets = style_targets(network, [passes.prepare_images(settings, inputs[0], styles, settings.size_px)[1][0]],
                            settings.style_blend, settings.style_layers)  # fmt: skip
    figures = {"flicker": [f for f, _ in referee_flicker if f is not None], "trusted": [t for _, t in referee_flicker]}
    figures |= {"content": [], "style": [], "own_flicker": []}
    for index in range(1, len(pictures)):
        content = passes.prepare_images(settings, inputs[index], styles, settings.size_px)[0]
        loss = passes.build_optimizer(settings, network, content, targets, pictures[index]).loss
        figures["style"].append(float(loss(tf.constant(pictures[index][None], tf.float32))[1]))
        figures["content"].append(distance(pictures[index], inputs[index]))
        motion = flow.Motion.between(inputs[index - 1], inputs[index])
        own = flow.temporal_error(pictures[index], pictures[index - 1], motion.backward, motion.reliability)
        figures["own_flicker"].append(own)
    return figures


def compare(a, b):
    """A row of a table: (a) and (b) as (collector, judged figures)."""
    (run_a, fig_a), (run_b, fig_b) = a, b
    row = {"flicker_a": np.mean(fig_a["flicker"]), "flicker_b": np.mean(fig_b["flicker"])}
    row["flicker_worst"] = max(np.array(fig_b["flicker"]) / np.maximum(fig_a["flicker"], 1e-12))
    for figure in ("content", "style"):
        ratios = np.array(fig_b[figure]) / np.array(fig_a[figure])
        row[f"{figure}_mean"] = np.mean(fig_b[figure]) / np.mean(fig_a[figure])
        row[f"{figure}_worst"] = float(ratios.max())
    row["own_ratio"] = np.mean(fig_b["own_flicker"]) / np.mean(fig_a["own_flicker"])
    row["trusted"] = np.mean(fig_b["trusted"])
    row["seconds_a"], row["seconds_b"] = np.mean(run_a.seconds[1:]), np.mean(run_b.seconds[1:])
    return row


def write_pictures(name, fps, pictures_a, pictures_b, shown=4):
    """docs/video/<clip>-a-vs-b.jpg: a few consecutive frames, (a) above (b); and a .webm of the two side by side."""
    os.makedirs(PICTURES, exist_ok=True)
    middle = len(pictures_a) // 2
    rows = [np.concatenate(list(pictures[middle : middle + shown]), axis=1) for pictures in (pictures_a, pictures_b)]
    gap = np.full((4, rows[0].shape[1], 3), 255, np.float32)
    write_atomic(os.path.join(PICTURES, f"{name}-a-vs-b.jpg"), encode_jpeg(np.concatenate([rows[0], gap, rows[1]])))
    height, width = pictures_a[0].shape[:2]
    with videos.VideoWriter(os.path.join(PICTURES, f"{name}-a-vs-b.webm"), fps, (2 * width + 4, height)) as out:
        for a, b in zip(pictures_a, pictures_b):
            out.write(np.concatenate([a, np.full((height, 4, 3), 255, np.float32), b], axis=1))


def encode_jpeg(image):
    import cv2

    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)[:, :, ::-1]
    return cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes()


def cpu_model():
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames of each clip for the flicker table")
    parser.add_argument("--size", type=int, default=128, help="size of the flicker table's frames, px")
    parser.add_argument("--clips", nargs="*", help="only these clips (names as in the table)")
    parser.add_argument(
        "--choices",
        nargs="*",
        default=["--temporal-weight=0"],
        help="other settings of the video mode to compare on moving_object, a flag=value each",
    )
    parser.add_argument("--speed-size", type=int, default=384, help="size of the speed table's frames, px")
    parser.add_argument("--speed-frames", type=int, default=3, help="frames of box.mp4 for the speed table; 0: none")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 64 px, 4 frames, few iterations")
    parser.add_argument("--output", default=RESULTS_PATH)
    args = parser.parse_args()
    args.flags = ["--iterations", "4", "--frame-iterations", "2"] if args.quick else []
    if args.quick:
        args.frames, args.size, args.speed_size, args.speed_frames = 4, 64, 64, 3
    return args


def main():
    args = parse_args()
    started = time.perf_counter()
    command = " ".join(["python benchmarks/video_benchmark.py", *sys.argv[1:]])
    settings = clip_settings(os.path.join(VIDEOS, "box.mp4"), 0, 1, args.size, *args.flags)
    network = passes.build_network(settings, load_weights(settings.weights_file))
    styles = [utils.load_image(path) for path in settings.style_images]
    distance = referee.ContentDistance()
    rows, choice_rows = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (path, first_frame) in make_clips(folder, args.frames).items():
            if args.clips and name not in args.clips:
                continue
            clip = clip_settings(path, first_frame, args.frames, args.size, *args.flags)
            inputs = input_frames(clip)
            runs = {}
            for label, paint in (("a", alone), ("b", video_mode)):
                run = paint(clip, styles, network, inputs)
                runs[label] = run, judge(clip, styles, network, distance, inputs, run.pictures)
            rows[name] = compare(runs["a"], runs["b"])
            print(name, {key: round(float(value), 5) for key, value in rows[name].items()}, flush=True)
            write_pictures(name.split(".")[0], 25.0, runs["a"][0].pictures, runs["b"][0].pictures)
            for choice in args.choices if name == "moving_object" else ():
                other = clip_settings(path, first_frame, args.frames, args.size, *args.flags, choice)
                run = video_mode(other, styles, network, inputs)
                judged = judge(other, styles, network, distance, inputs, run.pictures)
                choice_rows[choice] = compare(runs["a"], (run, judged))
                print(choice, {key: round(float(value), 5) for key, value in choice_rows[choice].items()}, flush=True)
    speed = None
    if args.speed_frames > 1:
        box = clip_settings(os.path.join(VIDEOS, "box.mp4"), 120, args.speed_frames, args.speed_size, *args.flags)
        speed = video_mode(box, styles, network, input_frames(box))
        print("speed", [round(s, 2) for s in speed.seconds], flush=True)
    report = results_markdown(command, args, settings, rows, choice_rows, speed, time.perf_counter() - started)
    write_atomic(args.output, report.encode())
    print(report)


HEADER = (
    "| {first} | flicker (a) | flicker (b) | **(b)/(a)**, worst frame | content distance (b)/(a), worst frame | "
    "style loss (b)/(a), worst frame | method's own flicker (b)/(a) | trusted | s/frame (a) | s/frame (b) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
)


def table_row(label, row):
    return (
        f"| {label} | {row['flicker_a']:.5f} | {row['flicker_b']:.5f} | "
        f"**{row['flicker_b'] / row['flicker_a']:.3f}**, {row['flicker_worst']:.3f} | "
        f"{row['content_mean']:.3f}, {row['content_worst']:.3f} | {row['style_mean']:.3f}, {row['style_worst']:.3f} | "
        f"{row['own_ratio']:.3f} | {row['trusted']:.0%} | {row['seconds_a']:.1f} | {row['seconds_b']:.1f} |"
    )


def results_markdown(command, args, settings, rows, choice_rows, speed, elapsed_s):
    lines = [
        "# Video benchmark",
        "",
        f"`{command}` on {datetime.now(timezone.utc):%Y-%m-%d}: {cpu_model()}, {os.cpu_count()} cores (shared), "
        f"TensorFlow {tf.__version__}, precision {settings.precision}; {elapsed_s / 60:.0f} minutes in all. "
        "What each figure means: the docstring of benchmarks/video_benchmark.py.",
        "",
        f"Style `{os.path.relpath(settings.style_images[0], REPO)}`, every setting `style_transfer.py`'s default "
        f"(frame iterations {settings.frame_iterations}, temporal weight {settings.temporal_weight:g}, "
        f"iterations {' '.join(map(str, settings.iterations))} per pass of the first frame and of each "
        "frame in (a)), except the size.",
        "",
        f"## The referee's table: {args.frames} frames at {args.size} px, (a) every frame alone, (b) video mode",
        "",
        HEADER[0].format(first="clip"),
        HEADER[1],
        *[table_row(name, row) for name, row in rows.items()],
        "",
        "Ratios of means over the frames after the first; worst frame: the largest per-frame ratio. Targets: "
        "flicker (b)/(a) at most 0.1, content distance at most 1.1x, style loss at most 1.15x. "
        "`trusted`: the share of pixels the referee's forward-backward check judged.",
    ]
    if choice_rows and "moving_object" in rows:
        lines += [
            "",
            "## Other settings of the video mode: moving_object as above, (b) with one setting changed",
            "",
            HEADER[0].format(first="video mode"),
            HEADER[1],
            table_row("the defaults", rows["moving_object"]),
            *[table_row(f"`{choice}`", row) for choice, row in choice_rows.items()],
        ]
    if speed is None:
        return "\n".join([*lines, ""])
    first_s, later_s = speed.seconds[0], float(np.mean(speed.seconds[1:]))
    lines += [
        "",
        f"## Speed: box.mp4 from frame 120, {args.speed_frames} frames at {args.speed_size} px in video mode",
        "",
        "| frame | seconds |",
        "|---|---:|",
        *[f"| {index} | {seconds:.1f} |" for index, seconds in enumerate(speed.seconds, start=1)],
        "",
        f"The first frame, made as a still image with the default settings is: {first_s:.1f} s. Later frames: "
        f"{later_s:.1f} s each on average, **{later_s / first_s:.2f}** of the first (target: at most 1/4).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
