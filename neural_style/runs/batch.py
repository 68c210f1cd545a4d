"""Batches: several photos (files, folders of photos, globs), each in the blend of the paintings or,
with --each-style, in each painting on its own. Every pair is a run of its own, in the run folder the
same command for that one photo and painting would make, so a finished pair is never painted again
(on this machine or a cluster) and an interrupted one goes on where it stopped. Progress and the time
left over the whole batch; at the end a summary: a sheet of every result and a table of the runs.
"""

import csv
import dataclasses
import glob
import hashlib
import io
import json
import os
import time

import numpy as np

from neural_style.errors import RunStopped, UserError, write_failed
from neural_style.files.disk import write_atomic
from neural_style.files.videos import VIDEO_EXTENSIONS, is_image_sequence, is_video_source, open_video
from neural_style.runs.folder import finished_run, frame_name, image_name
from neural_style.runs.painting import paint
from neural_style.runs.recorder import minutes_left
from utils import encode_png, fit_long_side, load_image, resize, side_by_side

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SHEET_CELL_PX = 160  # height of each picture in the summary sheet


def content_paths(inputs):
    """The photos (or videos) that --content names: files as given, every photo and video in a
    folder, the files a glob matches; in order, each once. UserError for a folder or glob with none."""
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(
                os.path.join(item, name)
                for name in os.listdir(item)
                if name.lower().endswith(PHOTO_EXTENSIONS + VIDEO_EXTENSIONS)
                and os.path.isfile(os.path.join(item, name))
            )
            if not found:
                raise UserError(f"folder {item} has no photo or video ({', '.join(PHOTO_EXTENSIONS)}, ...)")
        elif glob.has_magic(item) and not is_image_sequence(item):
            matches = glob.glob(item)
            found = sorted(path for path in matches if os.path.isfile(path))
            if matches and not found:
                raise UserError(
                    f"{item} matches only folders ({len(matches)}); name the photos in them, or give a folder"
                )
            if not found:
                raise UserError(f"no file matches {item}")
        else:
            found = [item]
        paths += [path for path in found if path not in paths]
    return paths


def expand(settings):
    """The settings of each run the command asks for: one per photo, in the blend of the paintings,
    or with --each-style one per photo and painting."""
    photos = content_paths(settings.content_images)
    if settings.each_style:
        style_sets = [((path,), (1.0,)) for path in settings.style_images]
    else:
        style_sets = [(settings.style_images, settings.style_blend)]
    masks = settings.style_masks or settings.style_region_masks or settings.content_mask
    if masks and len(photos) * len(style_sets) > 1:
        raise UserError("masks belong to one photo and its paintings: give one --content and no --each-style")
    return [
        dataclasses.replace(settings, content_image=photo, style_images=styles, style_blend=blend)
        for photo in photos
        for styles, blend in style_sets
    ]


def run_batch(runs, paint_runs, output_dir, fresh):
    """Paint the runs that are not finished yet with paint_runs(runs) (which yields (run, result path,
    seconds) as each one finishes, here or on a cluster), printing the batch's progress and the time
    left; then write the summary. Returns the summary's folder."""
    unique = same_runs_once(runs)
    results = {} if fresh else {run.name: finished_run(output_dir, run.name) for run in unique}
    todo = [run for run in unique if not results.get(run.name)]
    done_before = len(unique) - len(todo)
    print(
        f"batch: {len(unique)} run{'s' * (len(unique) != 1)}"
        + (f", {done_before} finished before, {len(todo)} to paint" if done_before else "")
    )
    started = time.perf_counter()
    try:
        for count, (run, path, seconds) in enumerate(paint_runs(todo), start=1):
            results[run.name] = os.path.dirname(path)
            left_min = minutes_left(time.perf_counter() - started, count, len(todo))
            left = f"; {len(todo) - count} to go, about {left_min:.1f} min" if count < len(todo) else ""
            print(f"batch: {count}/{len(todo)} done in {seconds:.0f} s ({label(run)}): {path}{left}", flush=True)
    except RunStopped as stopped:
        done = sum(1 for path in results.values() if path)
        raise RunStopped(
            f"{stopped} ({done} of {len(unique)} runs of the batch are finished in {output_dir}; "
            "the same command goes on with the others)",
            stopped.status,
        ) from None
    return write_summary(unique, results, output_dir)


def same_runs_once(runs):
    """The runs, each identity once: one photo named twice, or a copy of it under another name (the
    same content; only its run folder's name, which has the file's name, would differ), is one run."""
    unique = {}
    for run in runs:
        first = unique.setdefault(json.dumps(run.identity, sort_keys=True), run)
        if first.settings.content_image != run.settings.content_image:
            print(
                f"note: {run.settings.content_image} is the same photo as {first.settings.content_image}: painted once"
            )
    return list(unique.values())


def paint_runs_here(weights, network, output_dir, stop):
    """run_batch's painter on this machine: the runs one after another, each into its run folder."""

    def paint_runs(todo):
        for run in todo:
            started = time.perf_counter()
            path = paint(run, weights, network, output_dir, stop)
            yield run, path, time.perf_counter() - started

    return paint_runs


def label(run):
    names = [os.path.basename(path) for path in [run.settings.content_image, *run.settings.style_images]]
    return f"{names[0]} in {' + '.join(names[1:])}"


def write_summary(runs, results, output_dir):
    """outputs/batch-<digest>/: sheet.png, the paintings on top and below them every photo's results
    in a row (the photo first), and runs.csv, each run's photo, paintings and folder. Returns the folder."""
    digest = hashlib.sha1(" ".join(sorted(run.name for run in runs)).encode()).hexdigest()[:8]
    folder = os.path.join(output_dir, f"batch-{digest}")
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["photo", "paintings", "run folder"])
    rows = {}
    for run in runs:
        s = run.settings
        writer.writerow([s.content_image, " ".join(s.style_images), results.get(run.name) or ""])
        rows.setdefault(s.content_image, []).append(result_picture(run, results.get(run.name)))
    paintings = {tuple(run.settings.style_images): None for run in runs}  # the columns, in order
    header = [np.full((1, 1, 3), 255, np.float32), *(side_by_side(list(map(load_image, p)), 256) for p in paintings)]
    sheet = summary_sheet([header, *([first_picture(photo), *pictures] for photo, pictures in rows.items())])
    try:
        os.makedirs(folder, exist_ok=True)
        write_atomic(os.path.join(folder, "runs.csv"), table.getvalue().encode())
        write_atomic(os.path.join(folder, "sheet.png"), encode_png(sheet))
    except OSError as error:
        raise write_failed(error) from None
    print(f"batch: summary in {folder} (sheet.png, runs.csv)")
    return folder


def result_picture(run, folder):
    """A run's result as the sheet shows it: its final picture, or a video's first frame; grey if missing."""
    if folder:
        name = frame_name(1) if run.video else image_name(run.name, "final")
        if os.path.exists(os.path.join(folder, name)):
            return load_image(os.path.join(folder, name))
    return np.full((SHEET_CELL_PX, SHEET_CELL_PX, 3), 128, np.float32)


def first_picture(photo):
    """The photo, or a video's first frame."""
    if is_video_source(photo):
        with open_video(photo) as clip:
            return next(clip)
    return load_image(photo)


def summary_sheet(rows, gap_px=8):
    """One picture of rows of pictures, each fitted into a square cell of SHEET_CELL_PX, white around."""
    cell_px = SHEET_CELL_PX + gap_px
    sheet = np.full((len(rows) * cell_px, max(map(len, rows)) * cell_px, 3), 255, np.float32)
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            height, width = fit_long_side(picture.shape, SHEET_CELL_PX)
            top, left = r * cell_px + (cell_px - height) // 2, c * cell_px + (cell_px - width) // 2
            sheet[top : top + height, left : left + width] = resize(picture, height, width)
    return sheet
