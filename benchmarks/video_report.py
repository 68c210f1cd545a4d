"""The markdown of benchmarks/video_benchmark.py's results and its pictures (docs/video/)."""

import os
import platform
import subprocess
from datetime import datetime, timezone

import numpy as np

from neural_style.files import videos
from neural_style.files.disk import write_atomic
from neural_style.model.tf_setup import tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PICTURES = os.path.join(REPO, "docs", "video")


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


def results_markdown(command, args, settings, tables, elapsed_s):
    """The results file: `tables` holds what was measured ("rows", "choices", "long_term",
    "disocclusion", "speed"), each None or empty if not."""
    lines = [
        "# Video benchmark",
        "",
        f"`{command}` on {datetime.now(timezone.utc):%Y-%m-%d}: {cpu_model()}, {os.cpu_count()} cores (shared; "
        f"load average {os.getloadavg()[0]:.1f} at the end), TensorFlow {tf.__version__}, precision "
        f"{settings.precision}; {elapsed_s / 60:.0f} minutes in all. "
        "What each figure means: the docstring of benchmarks/video_benchmark.py.",
        "",
        f"Style `{os.path.relpath(settings.style_images[0], REPO)}`, every setting `style_transfer.py`'s default "
        f"(frame iterations {settings.frame_iterations}, temporal weight {settings.temporal_weight:g}, "
        f"iterations {' '.join(map(str, settings.iterations))} per pass of the first frame and of each "
        "frame in (a)), except the size.",
    ]
    if tables.get("rows"):
        lines += referee_table(args, tables["rows"])
    if tables.get("choices"):
        lines += choice_tables(args, tables["choices"])
    for name, title in (("long_term", LONG_TERM_TITLE), ("disocclusion", DISOCCLUSION_TITLE)):
        if tables.get(name):
            lines += occlusion_table(title.format(frames=getattr(args, f"{name}_frames"), size=args.size), tables[name])
    if tables.get("speed"):
        lines += speed_table(args, tables["speed"])
    return "\n".join([*lines, ""])


def referee_table(args, rows):
    return [
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


CHOICE_HEADER = (
    "| clip | video mode | flicker | flicker / defaults' | content distance / defaults' | style loss / defaults' "
    "| method's own flicker / defaults' | seconds in all |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
)


def choice_tables(args, choices):
    """{clip: {choice: compare(defaults, choice)}}: the video mode with one setting changed against its defaults."""
    lines = [
        "",
        f"## Other settings of the video mode: {args.frames} frames at {args.size} px, against the defaults",
        "",
        *CHOICE_HEADER,
    ]
    for clip, rows in choices.items():
        first = next(iter(rows.values()))
        lines.append(f"| {clip} | the defaults | {first['flicker_a']:.5f} | 1 | 1 | 1 | 1 | {first['total_a']:.0f} |")
        lines += [
            f"| {clip} | `{choice}` | {row['flicker_b']:.5f} | **{row['flicker_b'] / row['flicker_a']:.3f}** | "
            f"{row['content_mean']:.3f} | {row['style_mean']:.3f} | {row['own_ratio']:.3f} | {row['total_b']:.0f} |"
            for choice, row in rows.items()
        ]
    lines += ["", "Flicker: the referee's, mean over the frames after the first; the rest: ratios of means."]
    return lines


LONG_TERM_TITLE = "## Long-term consistency: the occluded clip, {frames} frames at {size} px, video mode"
DISOCCLUSION_TITLE = "## What uncovered pixels start from: the occluded clip, {frames} frames at {size} px"


def occlusion_table(title, rows):
    """{label: figures (video_benchmark.occlusion_figures)}."""
    return [
        "",
        title,
        "",
        "| video mode | flicker | content distance | style loss | **returned** | steady | seconds in all |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {label} | {f['flicker']:.5f} | {f['content']:.4f} | {f['style']:.4g} | **{f['returned']:.5f}** | "
            f"{f['steady']:.5f} | {f['total_s']:.0f} |"
            for label, f in rows.items()
        ],
        "",
        "Flicker (the referee's), content distance and the program's style loss: means over the frames after "
        "the first. Returned: the mean squared difference (0..1) between each frame's painting and the first's "
        "on the wall the bar covered in between and uncovered again; steady: the same on the wall it never "
        "covered (benchmarks/video_measures.py).",
    ]


def speed_table(args, seconds):
    first_s, later_s = seconds[0], float(np.mean(seconds[1:]))
    return [
        "",
        f"## Speed: box.mp4 from frame 120, {args.speed_frames} frames at {args.speed_size} px in video mode",
        "",
        "| frame | seconds |",
        "|---|---:|",
        *[f"| {index} | {frame_s:.1f} |" for index, frame_s in enumerate(seconds, start=1)],
        "",
        f"The first frame, made as a still image with the default settings is: {first_s:.1f} s. Later frames: "
        f"{later_s:.1f} s each on average, **{later_s / first_s:.2f}** of the first (target: at most 1/4).",
    ]
