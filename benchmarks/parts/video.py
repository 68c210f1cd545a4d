"""Seconds per video frame: a clip painted by the video mode with the program's defaults."""

import os
import statistics
import sys

import style_transfer
from neural_style.work import passes
from parts.workers import run_worker

TITLE = "Seconds per video frame"


def worker(size_px, frame_count):
    """Seconds of each frame of box.mp4 (video_benchmark.py's clip and first frame) painted by the video
    mode with the program's defaults at size_px, as video_benchmark.py's speed table takes them; the
    run planned by style_transfer.plan, as a user's is."""
    from video_benchmark import REAL_CLIPS, VIDEOS, clip_settings, input_frames, video_mode

    settings = clip_settings(os.path.join(VIDEOS, "box.mp4"), REAL_CLIPS["box.mp4"], frame_count, size_px)
    runs, weights = style_transfer.plan(settings)
    settings = runs[0].settings
    styles = [runs[0].image(path) for path in settings.style_images]
    frames = video_mode(settings, styles, passes.build_network(settings, weights), input_frames(settings))
    height, width = frames.pictures[0].shape[:2]
    return {"height": height, "width": width, "seconds": frames.seconds, "frame_iterations": settings.frame_iterations}


def part(args, precisions):
    print(f"video at {args.video_size} px ...", file=sys.stderr, flush=True)
    video = run_worker("video", size_px=args.video_size, frame_count=args.video_frames)
    seconds = video["seconds"]
    later_s = statistics.median(seconds[1:])
    return [
        f"box.mp4 (`../shared/videos`, benchmarks/video_benchmark.py's clip) from frame 120, {len(seconds)} frames at "
        f"{args.video_size} px ({video['width']} x {video['height']}) in one run of the video mode with the "
        f"program's defaults: the first frame as a still image is made (every pass), each later one in "
        f"{video['frame_iterations']} iterations from the previous frame warped by the optical flow, flow included.",
        "",
        "| frame | seconds |",
        "|---:|---:|",
        *[f"| {index} | {frame_s:.1f} |" for index, frame_s in enumerate(seconds, start=1)],
        "",
        f"Later frames: **{later_s:.1f} s per frame** (median), {later_s / seconds[0]:.2f} of the first frame's time.",
    ]
