"""Files sent from the page: checked (a name without a path, a size within the limit, an image or a
video the program can read) and kept in <output dir>/uploads/<digest>/<name>, so that nothing is
written outside the output folder and a run folder is named after the file as the user named it."""

import contextlib
import hashlib
import os

from neural_style.errors import UserError
from neural_style.files.disk import safe_name, write_atomic
from neural_style.files.videos import VIDEO_EXTENSIONS, open_video
from neural_style.studio import Refused
from utils import load_image

UPLOAD_MAX_MB = 50  # a photo, painting, mask or clip sent from the page; stated on the page
UPLOADS = "uploads"  # the folder in the output folder where they are kept


def checked_name(name):
    """The file name as sent, if it is a plain name; UserError if it holds a path (../, /, \\)."""
    if not name or "/" in name or "\\" in name or ".." in name or "\0" in name or name.startswith("."):
        raise Refused(f"refused {name!r}: a file name with a path in it (../, /) or a hidden name; rename the file")
    stem, extension = os.path.splitext(name)
    return safe_name(stem) + (f".{safe_name(extension[1:].lower(), 8)}" if extension[1:] else "")


def save_upload(output_dir, name, data):
    """Keep the file's bytes under output_dir/uploads/ if they are an image or a video; returns its path.
    The folder is the content's digest: the same file sent twice is one file, two files of one name two."""
    name = checked_name(name)
    if len(data) > UPLOAD_MAX_MB << 20:
        raise Refused(f"refused {name}: over {UPLOAD_MAX_MB} MB")
    folder = os.path.join(output_dir, UPLOADS, hashlib.sha256(data).hexdigest()[:16])
    path = os.path.join(folder, name)
    if not name.lower().endswith(VIDEO_EXTENSIONS):
        try:
            load_image(name, data)
        except UserError:
            raise Refused(f"refused {name}: not an image or video the program can read") from None
    os.makedirs(folder, exist_ok=True)
    write_atomic(path, data)
    if name.lower().endswith(VIDEO_EXTENSIONS):  # OpenCV's video reader reads files only
        try:
            with open_video(path):
                pass
        except UserError:
            os.remove(path)
            with contextlib.suppress(OSError):  # the same bytes may be kept under another name
                os.rmdir(folder)
            raise Refused(f"refused {name}: not a video the program can read") from None
    return path
