"""The page's controls and the command line a page's run becomes: the flags of style_transfer.py that
the page offers (each with the default and description of its constant), and the argv built from
what the page sends, refused with a clear message where it could name a file or flag it must not."""

import os
import sys

from neural_style.errors import UserError
from neural_style.studio import Refused

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "style_transfer.py")
IMAGES_DIR = os.path.join(os.path.dirname(SCRIPT), "images")  # the bundled photos and paintings the page offers

# The settings the page has a control for, in the order it shows them.
CONTROLS = (
    "SIZE_PX",
    "SCALES",
    "ITERATIONS",
    "STYLE_WEIGHT",
    "CONTENT_WEIGHT",
    "TV_WEIGHT",
    "STYLE_SCALE",
    "PRESERVE_COLORS",
    "OPTIMIZER",
    "LEARNING_RATE",
    "INIT",
    "SEED",
    "SAVE_EVERY",
    "PRINT_EVERY",
    "FRAME_COUNT",
    "FRAME_ITERATIONS",
    "MASK_MODE",
)
FILE_FLAGS = ("--content", "--style", "--style-masks", "--content-mask")  # files: uploads or bundled images


def page_controls(table, described):
    """[{flag, setting, default, description, choices}] of the page's controls, from style_transfer's
    {SETTING: (flag, argparse options, default)} table and its settings' descriptions."""
    controls = []
    for setting in CONTROLS:
        flag, how, default = table[setting]
        text = " ".join(map(str, default)) if isinstance(default, list) else str(default)
        choices = how.get("choices")
        if setting == "INIT":
            choices = ("mix", "content", "style", "noise")  # an image file as a start image is left to the command line
        controls.append(
            {"flag": flag, "setting": setting, "default": text, "description": described[setting], "choices": choices}
        )
    return controls


def command(request, controls, output_dir, allowed_dirs, passed_on):
    """The argv of style_transfer.py for a page's request {"files": {flag: [paths]}, "values": {flag:
    text}, "fresh": bool}: the values split into words, the files only from allowed_dirs, then the
    server's own --output-dir and passed_on flags (--cluster ...). UserError for anything else."""
    files, values = request.get("files") or {}, request.get("values") or {}
    if not files.get("--content") or not files.get("--style"):
        raise UserError("choose a photo (or clip) and at least one painting")
    argv = [sys.executable, SCRIPT]
    for flag, paths in files.items():
        if flag not in FILE_FLAGS or not isinstance(paths, list):
            raise Refused(f"the page cannot set {flag!r}")
        if paths:
            argv += [flag, *(inside_allowed(path, allowed_dirs) for path in paths)]
    known = {control["flag"]: control for control in controls}
    for flag, text in values.items():
        if flag not in known:
            raise Refused(f"the page cannot set {flag!r}")
        words = str(text).split()
        if not words or any(word.startswith("-") for word in words):
            raise Refused(f"{flag} needs a value that is a number or a word, not {str(text)!r}")
        if words != known[flag]["default"].split():  # a default is left out, as a user would type it
            argv += [flag, *words]
    if request.get("fresh"):
        argv.append("--fresh")
    return [*argv, "--output-dir", output_dir, *passed_on]


def inside_allowed(path, allowed_dirs):
    """The path, resolved, if it is a file inside one of allowed_dirs; UserError otherwise."""
    real = os.path.realpath(str(path))
    if not any(real.startswith(os.path.realpath(folder) + os.sep) for folder in allowed_dirs) or not os.path.isfile(
        real
    ):
        raise Refused(f"{path!r} is not one of the uploaded or bundled images")
    return real


def shown(argv):
    """The command as a user would type it in the project's folder."""
    words = ["python", "style_transfer.py", *argv[2:]]
    return " ".join(word if word and all(c.isalnum() or c in "-_./:=%" for c in word) else repr(word) for word in words)
