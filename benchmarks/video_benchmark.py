"""Benchmark of the video mode, judged by an independent referee (benchmarks/referee.py): flicker,
content distance and style loss against painting every frame on its own, and speed. Writes
benchmarks/VIDEO_RESULTS.md (its command at the top) and pictures of both side by side (docs/video/).

    python benchmarks/video_benchmark.py            # the full run, about 2 hours on 2 shared cores
    python benchmarks/video_benchmark.py --quick    # a smoke run: 64 px, 4 frames, few iterations
    python benchmarks/video_benchmark.py --clips --choice-clips moving_object slow_pan box.mp4 --choices=--passes=2
                                                    # only the video mode, with and without a setting

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

Other settings (--choices, on --choice-clips) are compared with the video mode's defaults on the same
frames. On clips.occluded (a bar passing over a textured wall) the benchmark measures long-term
consistency (--long-term-frames: --temporal-gaps 1 against 1 10 20 40) and what the pixels the bar
uncovers start from (--disocclusion-frames: warped, or blended with the usual start image), with the
referee and benchmarks/video_measures.py. The speed table: a later frame's time against the first's.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from unittest import mock

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import style_transfer
import utils
from benchmarks import clips, referee, video_measures
from benchmarks.video_report import results_markdown, write_pictures
from neural_style.files import videos
from neural_style.files.disk import write_atomic
from neural_style.files.weights import load_weights
from neural_style.model.losses import style_targets
from neural_style.model.tf_setup import resolve_precision, tf
from neural_style.work import flow, frames, passes, sweeps
from neural_style.work.observer import Observer

VIDEOS = os.path.join(os.path.dirname(REPO), "shared", "videos")
REAL_CLIPS = {"box.mp4": 120, "vtest.avi": 0}  # each clip's first frame: box.mp4's hand starts moving at 120
RESULTS_PATH = os.path.join(REPO, "benchmarks", "VIDEO_RESULTS.md")
DISOCCLUDED_SHARES = (0.5, 1.0)  # of the usual start image in uncovered pixels, against 0 (all warped)
LONG_TERM_GAPS = ("1", "10", "20", "40")


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
    sweeps.stylize_clip(settings, iter(inputs), len(inputs), styles, network, collector)
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
    row["total_a"], row["total_b"] = sum(run_a.seconds), sum(run_b.seconds)
    return row


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames of each clip for the flicker table")
    parser.add_argument("--size", type=int, default=128, help="size of every table's frames but speed's, px")
    parser.add_argument("--clips", nargs="*", help="only these clips in the referee's table (the flag alone: none)")
    parser.add_argument(
        "--choices",
        nargs="*",
        default=["--temporal-weight=0"],
        help="other settings of the video mode to compare with its defaults, a flag=value each",
    )
    parser.add_argument("--choice-clips", nargs="*", default=["moving_object"], help="the clips of --choices")
    parser.add_argument("--long-term-frames", type=int, default=44, help="frames of the occluded clip; 0: none")
    parser.add_argument("--disocclusion-frames", type=int, default=12, help="frames of the occluded clip; 0: none")
    parser.add_argument("--speed-size", type=int, default=384, help="size of the speed table's frames, px")
    parser.add_argument("--speed-frames", type=int, default=3, help="frames of box.mp4 for the speed table; 0: none")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 64 px, 4 frames, few iterations")
    parser.add_argument("--output", default=RESULTS_PATH)
    args = parser.parse_args()
    args.flags = ["--iterations", "4", "--frame-iterations", "2"] if args.quick else []
    if args.quick:
        args.frames, args.size, args.speed_size, args.speed_frames = 4, 64, 64, 3
        args.long_term_frames, args.disocclusion_frames = 12, 12  # a pixel is covered for 8 frames
    return args


class Bench:
    """What every measurement shares: the arguments, the network, the paintings and the referee's distance."""

    def __init__(self, args):
        self.args = args
        self.settings = clip_settings(os.path.join(VIDEOS, "box.mp4"), 0, 1, args.size, *args.flags)
        self.network = passes.build_network(self.settings, load_weights(self.settings.weights_file))
        self.styles = [utils.load_image(path) for path in self.settings.style_images]
        self.distance = referee.ContentDistance()

    def run(self, paint, settings, inputs):
        """(collector, judged figures) of the frames painted by paint (alone or video_mode)."""
        run = paint(settings, self.styles, self.network, inputs)
        return run, judge(settings, self.styles, self.network, self.distance, inputs, run.pictures)

    def clips(self, folder):
        """The referee's table and the choices' {clip: {choice: row}}."""
        rows, choices, args = {}, {}, self.args
        for name, (path, first_frame) in make_clips(folder, args.frames).items():
            in_table, in_choices = args.clips is None or name in args.clips, name in args.choice_clips
            if not (in_table or in_choices):
                continue
            clip = clip_settings(path, first_frame, args.frames, args.size, *args.flags)
            inputs = input_frames(clip)
            video = self.run(video_mode, clip, inputs)
            if in_table:
                each_alone = self.run(alone, clip, inputs)
                rows[name] = compare(each_alone, video)
                print(name, {key: round(float(value), 5) for key, value in rows[name].items()}, flush=True)
                if not args.quick:  # a smoke run's pictures are not the docs' pictures
                    write_pictures(name.split(".")[0], 25.0, each_alone[0].pictures, video[0].pictures)
            for choice in args.choices if in_choices else ():
                other = clip_settings(path, first_frame, args.frames, args.size, *args.flags, choice)
                choices.setdefault(name, {})[choice] = compare(video, self.run(video_mode, other, inputs))
                print(name, choice, {k: round(float(v), 5) for k, v in choices[name][choice].items()}, flush=True)
        return rows, choices

    def occluded(self, folder, frame_count, variants):
        """{label: figures} of the video mode on clips.occluded, one run for each (label, flags, start share)."""
        path = clips.write_clip(clips.occluded(frame_count), os.path.join(folder, f"occluded{frame_count}", "%04d.png"))
        results = {}
        for label, flags, share in variants:
            settings = clip_settings(path, 0, frame_count, self.args.size, *self.args.flags, *flags)
            inputs = input_frames(settings)
            masks = video_measures.resized_masks(clips.occluder_masks(frame_count), *inputs[0].shape[:2])
            later_frame = frames.later_frame if share is None else video_measures.disoccluded_start(share)
            with mock.patch.object(frames, "later_frame", later_frame):
                run, judged = self.run(video_mode, settings, inputs)
            returned, steady = video_measures.return_error(run.pictures, masks)
            results[label] = {key: float(np.mean(judged[key])) for key in ("flicker", "content", "style")}
            results[label] |= {"returned": returned, "steady": steady, "total_s": sum(run.seconds)}
            print(label, {key: round(value, 5) for key, value in results[label].items()}, flush=True)
        return results

    def speed(self):
        args = self.args
        box = clip_settings(os.path.join(VIDEOS, "box.mp4"), 120, args.speed_frames, args.speed_size, *args.flags)
        seconds = video_mode(box, self.styles, self.network, input_frames(box)).seconds
        print("speed", [round(s, 2) for s in seconds], flush=True)
        return seconds


def main():
    args = parse_args()
    started = time.perf_counter()
    command = " ".join(["python benchmarks/video_benchmark.py", *sys.argv[1:]])
    bench = Bench(args)
    tables = {}
    with tempfile.TemporaryDirectory() as folder:
        tables["rows"], tables["choices"] = bench.clips(folder)
        if args.long_term_frames:
            long_term = f"`--temporal-gaps {' '.join(LONG_TERM_GAPS)}`"
            gaps = [("`--temporal-gaps 1`", [], None), (long_term, ["--temporal-gaps", *LONG_TERM_GAPS], None)]
            tables["long_term"] = bench.occluded(folder, args.long_term_frames, gaps)
        if args.disocclusion_frames:
            starts = [("warped (the default)", [], None)]
            starts += [(f"{share:g} the usual start, {1 - share:g} warped", [], share) for share in DISOCCLUDED_SHARES]
            tables["disocclusion"] = bench.occluded(folder, args.disocclusion_frames, starts)
    if args.speed_frames > 1:
        tables["speed"] = bench.speed()
    report = results_markdown(command, args, bench.settings, tables, time.perf_counter() - started)
    write_atomic(args.output, report.encode())
    print(report)


if __name__ == "__main__":
    main()
