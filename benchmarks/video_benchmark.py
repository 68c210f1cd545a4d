"""Benchmark of the video mode: flicker, losses and speed against painting every frame on its own.
Writes benchmarks/VIDEO_RESULTS.md and, for the README, frames of both side by side (docs/video/).

    python benchmarks/video_benchmark.py            # the full run, about 30 minutes on 2 shared cores
    python benchmarks/video_benchmark.py --quick    # a smoke run: 64 px, 4 frames, few iterations

For each clip, the same frames are painted twice with the same settings and seed:
  (a) independently: every frame by passes.stylize, as a still image (all its passes);
  (b) in video mode: frames.stylize_video, as `style_transfer.py --content clip` paints them.
Flicker is the temporal error of the result: the mean squared difference, on 0..1 pixels, between each
painted frame and the previous painted frame warped by the optical flow between the two input frames,
over the pixels the flow can be trusted on (flow.temporal_error), averaged over the frames after
the first. Losses are the content and style losses of each painted frame, computed by the program's own
loss (passes.build_optimizer) against that frame and the style targets. Speed is seconds per frame in
video mode at --speed-size: the first frame (which is made exactly as a still image with the default
settings is) and the later ones, in one run.
"""

import argparse
import dataclasses
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import style_transfer
import utils
from neural_style.files import videos
from neural_style.files.disk import write_atomic
from neural_style.files.weights import load_weights
from neural_style.model.losses import style_targets
from neural_style.model.tf_setup import resolve_precision, tf
from neural_style.work import (
    flow,
    passes,
)
from neural_style.work.frames import stylize_video
from neural_style.work.observer import Observer

VIDEOS = os.path.join(os.path.dirname(REPO), "shared", "videos")
CLIPS = {"box.mp4": 120, "vtest.avi": 0}  # each clip's first frame: box.mp4's hand starts moving at 120
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


def clip_settings(clip, first_frame, frame_count, size_px, *flags):
    """style_transfer.py's settings for the clip, parsed by its own parser, the precision resolved as
    style_transfer.run resolves it."""
    settings = style_transfer.parse_args(
        ["--content", clip, "--first-frame", str(first_frame), "--frames", str(frame_count), "--size", str(size_px)]
        + list(flags)
    )
    settings = dataclasses.replace(settings, precision=resolve_precision(settings.precision))
    return settings


def frames_of(settings):
    """The frames the settings ask for, decoded one by one, as style_transfer.run opens them."""
    return videos.open_video(settings.content_image, settings.first_frame, settings.frame_count, settings.frame_every)


def independent(settings, styles, network):
    """(a): each frame painted as a still image, rounded to 8 bits as frames are written."""
    collector = FrameCollector()
    with frames_of(settings) as frames:
        for index, frame in enumerate(frames, start=1):
            picture = passes.stylize(settings, frame, styles, network, settings.size_px)
            collector.frame_finished(index, settings.frame_count, np.clip(np.rint(picture), 0, 255))
    return collector


def video_mode(settings, styles, network):
    """(b): the frames painted by the video mode."""
    collector = FrameCollector()
    with frames_of(settings) as frames:
        stylize_video(settings, frames, settings.frame_count, styles, network, collector)
    return collector


def judge(settings, styles, network, pictures):
    """[(flicker to the previous frame or None, content loss, style loss)] of each painted frame."""
    results, previous = [], None
    with frames_of(settings) as frames:
        for frame, picture in zip(frames, pictures):
            content, frame_styles, _ = passes.prepare_images(settings, frame, styles, settings.size_px)
            if previous is None:
                targets = style_targets(network, frame_styles, settings.style_blend, settings.style_layers)
            loss = passes.build_optimizer(settings, network, content, targets, picture).loss
            content_loss, style_loss, _, _ = loss(tf.constant(picture[None], tf.float32))
            frame = utils.resize(frame, *content.shape[:2])
            flicker = None
            if previous is not None:
                previous_frame, previous_picture = previous
                backward = flow.flow(frame, previous_frame)
                reliability = flow.reliability(flow.flow(previous_frame, frame), backward)
                flicker = flow.temporal_error(picture, previous_picture, backward, reliability)
            results.append((flicker, float(content_loss), float(style_loss)))
            previous = frame, picture
    return results


def painted(run, settings, styles, network):
    """(the run's FrameCollector, its judged frames)."""
    return run, judge(settings, styles, network, run.pictures)


def compare(a, b):
    """A row of the flicker table: (a) and (b) as painted() gives them."""
    later = {name: judged[1:] for name, (_, judged) in (("a", a), ("b", b))}  # the first frame is made alike
    flicker = {name: np.mean([row[0] for row in rows]) for name, rows in later.items()}
    ratios = [[b_row[column] / a_row[column] for a_row, b_row in zip(later["a"], later["b"])] for column in (1, 2)]
    return {
        "flicker_a": flicker["a"],
        "flicker_b": flicker["b"],
        "content_mean": np.mean(ratios[0]),
        "content_worst": max(ratios[0], key=lambda r: abs(r - 1)),
        "style_mean": np.mean(ratios[1]),
        "style_worst": max(ratios[1], key=lambda r: abs(r - 1)),
        "seconds_a": np.mean(a[0].seconds[1:]),
        "seconds_b": np.mean(b[0].seconds[1:]),
    }


def write_pictures(name, fps, pictures_a, pictures_b, shown=4):
    """docs/video/<clip>-a-vs-b.jpg: a few consecutive frames, (a) above (b); and a .webm of the two side by side."""
    os.makedirs(PICTURES, exist_ok=True)
    middle = len(pictures_a) // 2
    rows = [np.concatenate(list(pictures[middle : middle + shown]), axis=1) for pictures in (pictures_a, pictures_b)]
    gap = np.full((4, rows[0].shape[1], 3), 255, np.float32)
    strip = np.concatenate([rows[0], gap, rows[1]], axis=0)
    write_atomic(os.path.join(PICTURES, f"{name}-a-vs-b.jpg"), encode_jpeg(strip))
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12, help="frames of each clip for the flicker table")
    parser.add_argument("--size", type=int, default=128, help="size of the flicker table's frames, px")
    parser.add_argument(
        "--choices",
        nargs="*",
        default=["--temporal-weight=0", "--temporal-weight=1e5", "--frame-iterations=15"],
        help="other settings of the video mode to compare on box.mp4, a flag=value each",
    )
    parser.add_argument("--speed-size", type=int, default=384, help="size of the speed table's frames, px")
    parser.add_argument("--speed-frames", type=int, default=5, help="frames of box.mp4 for the speed table")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 64 px, 4 frames, few iterations")
    parser.add_argument("--output", default=RESULTS_PATH)
    args = parser.parse_args()
    flags = ["--iterations", "4", "--frame-iterations", "2"] if args.quick else []
    if args.quick:
        args.frames, args.size, args.speed_size, args.speed_frames, args.choices = (
            4,
            64,
            64,
            3,
            ["--frame-iterations=1"],
        )

    network_settings = clip_settings(os.path.join(VIDEOS, "box.mp4"), 0, 1, args.size, *flags)
    network = passes.build_network(network_settings, load_weights(network_settings.weights_file))
    styles = [utils.load_image(path) for path in network_settings.style_images]
    started = time.perf_counter()

    flicker_rows, choice_rows = {}, {}
    for name, first_frame in CLIPS.items():
        settings = clip_settings(os.path.join(VIDEOS, name), first_frame, args.frames, args.size, *flags)
        a = painted(independent(settings, styles, network), settings, styles, network)
        b = painted(video_mode(settings, styles, network), settings, styles, network)
        flicker_rows[name] = compare(a, b)
        print(name, {key: round(float(value), 6) for key, value in flicker_rows[name].items()}, flush=True)
        if not args.quick:
            with frames_of(settings) as frames:
                write_pictures(os.path.splitext(name)[0], frames.fps, a[0].pictures, b[0].pictures)
        if name == "box.mp4":  # other settings of the video mode, around the defaults
            for choice in args.choices:
                other = clip_settings(settings.content_image, first_frame, args.frames, args.size, *flags, choice)
                choice_rows[choice] = compare(a, painted(video_mode(other, styles, network), other, styles, network))
                print(choice, choice_rows[choice], flush=True)

    speed_settings = clip_settings(os.path.join(VIDEOS, "box.mp4"), 120, args.speed_frames, args.speed_size, *flags)
    speed = video_mode(speed_settings, styles, network)
    print("speed", [round(s, 2) for s in speed.seconds], flush=True)

    report = results_markdown(args, network_settings, flicker_rows, choice_rows, speed, time.perf_counter() - started)
    write_atomic(args.output, report.encode())
    print(report)


def flicker_row(label, row):
    return (
        f"| {label} | {row['flicker_a']:.5f} | {row['flicker_b']:.5f} | "
        f"**{row['flicker_b'] / row['flicker_a']:.3f}** | {row['content_mean']:.3f}, {row['content_worst']:.3f} | "
        f"{row['style_mean']:.3f}, {row['style_worst']:.3f} | {row['seconds_a']:.1f} | {row['seconds_b']:.1f} |"
    )


def results_markdown(args, settings, flicker_rows, choice_rows, speed, elapsed_s):
    command = "python benchmarks/video_benchmark.py" + (" --quick" if args.quick else "")
    lines = [
        "# Video benchmark",
        "",
        f"`{command}` on {datetime.now(timezone.utc):%Y-%m-%d}: {cpu_model()}, {os.cpu_count()} cores, "
        f"TensorFlow {tf.__version__}, precision {settings.precision}; {elapsed_s / 60:.0f} minutes in all. "
        "What each figure means: the docstring of benchmarks/video_benchmark.py.",
        "",
        f"Style `{os.path.relpath(settings.style_images[0], REPO)}`, every setting `style_transfer.py`'s default "
        f"(frame iterations {settings.frame_iterations}, temporal weight {settings.temporal_weight:g}, "
        f"iterations {' '.join(map(str, settings.iterations))} per pass of the first frame and of each "
        f"frame in (a)), except the size.",
        "",
        f"## Flicker: {args.frames} frames at {args.size} px, (a) every frame on its own, (b) video mode",
        "",
        "| clip (first frame) | flicker (a) | flicker (b) | (b) / (a) | content loss (b) / (a): mean, "
        "farthest frame | style loss (b) / (a): mean, farthest frame | s/frame (a) | s/frame (b) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    header = lines[-2:]
    lines += [flicker_row(f"{name} ({CLIPS[name]})", row) for name, row in flicker_rows.items()]
    lines += [
        "",
        "Flicker and losses are over the frames after the first (the first is made alike in both). Targets: "
        "flicker (b) at most 1/5 of (a); each loss of (b) within 15 % of (a).",
        "",
        "## Other settings of the video mode: box.mp4 as above, (b) with one setting changed",
        "",
        header[0].replace("clip (first frame)", "video mode"),
        header[1],
        flicker_row("the defaults", flicker_rows["box.mp4"]),
        *[flicker_row(f"`{choice}`", row) for choice, row in choice_rows.items()],
    ]
    first_s, later_s = speed.seconds[0], float(np.mean(speed.seconds[1:]))
    lines += [
        "",
        f"## Speed: box.mp4 from frame 120, {args.speed_frames} frames at {args.speed_size} px in video mode, one run",
        "",
        "| frame | seconds |",
        "|---|---:|",
        *[f"| {index} | {seconds:.1f} |" for index, seconds in enumerate(speed.seconds, start=1)],
        "",
        f"The first frame, made as a still image with the default settings is: {first_s:.1f} s. Later frames: "
        f"{later_s:.1f} s each on average, **{later_s / first_s:.2f}** of the first (target: at most 1/3).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
