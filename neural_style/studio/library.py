"""The run folders in the output folder as the page shows them (their record, pictures, loss curve and
a video's finished frames), and the one way the page reads a file: a path inside the output folder."""

import csv
import os
import re

from neural_style.errors import UserError
from neural_style.runs.folder import read_record
from neural_style.studio import Refused

SNAPSHOT = re.compile(r".*-(\d+)px-step(\d+)\.png")  # the recorder's <name>-<size>px-step<NNNNN>.png
CURVE_POINTS_MAX = 200  # loss-curve points sent to the page; a long run's log is thinned to these


def file_inside(output_dir, relative):
    """The real path of the file `relative` names inside output_dir; UserError for one outside it
    (../, an absolute path, a link out) or one that is not there."""
    root = os.path.realpath(output_dir)
    path = os.path.realpath(os.path.join(root, relative))
    if not path.startswith(root + os.sep):
        raise Refused(f"refused {relative!r}: only files inside the output folder are served")
    if not os.path.isfile(path):
        raise UserError(f"{relative!r} is not a file in the output folder")
    return path


def run_folders(output_dir):
    """The run folders in output_dir (those with a record), newest first."""
    if not os.path.isdir(output_dir):
        return []
    paths = [os.path.join(output_dir, name) for name in os.listdir(output_dir)]
    paths = [path for path in paths if os.path.isfile(os.path.join(path, "settings.json"))]
    return sorted(paths, key=lambda path: os.path.getmtime(os.path.join(path, "settings.json")), reverse=True)


def pictures(path):
    """What the page shows of one run folder: {snapshots (oldest first), final, sheet, video, frames},
    each a path relative to the output folder (the folder's parent)."""
    folder = os.path.basename(path)
    names = sorted(os.listdir(path))
    steps = sorted((int(m.group(1)), int(m.group(2)), m.group(0)) for m in map(SNAPSHOT.fullmatch, names) if m)

    def one(suffix):
        found = [name for name in names if name.endswith(suffix)]
        return f"{folder}/{found[0]}" if found else None

    frames_dir = os.path.join(path, "frames")
    frames = sorted(os.listdir(frames_dir)) if os.path.isdir(frames_dir) else []
    return {
        "snapshots": [f"{folder}/{name}" for *_, name in steps],
        "final": one("-final.png"),
        "sheet": one("-sheet.png"),
        "video": one(".webm"),
        "frames": [f"{folder}/frames/{name}" for name in frames if name.endswith(".png")],
    }


def loss_curve(path):
    """The total loss of each logged step, thinned to CURVE_POINTS_MAX points."""
    try:
        with open(os.path.join(path, "losses.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return []
    totals = [float(row["total"]) for row in rows if row.get("total")]
    stride = max(1, len(totals) // CURVE_POINTS_MAX)
    return totals[::stride]


def run_summary(path):
    """One run folder as the list of past runs shows it."""
    record = read_record(path) or {}
    return {
        "folder": os.path.basename(path),
        "status": record.get("status", "unknown"),
        "record": record,
        "losses": loss_curve(path),
        **pictures(path),
    }
