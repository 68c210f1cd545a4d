"""Which run folder a run maps to: the same inputs (by content) and the same settings that change the
picture always name the same folder, so that a run resumes and a finished one is never painted again."""

import hashlib
import json
import os

from neural_style.files.disk import file_digest, safe_name
from neural_style.files.videos import is_image_sequence, is_video_source, sequence_files

# Settings that do not change the picture, so that a run can be resumed or extended with other values.
NOT_IN_RUN_IDENTITY = (
    "iterations",
    "save_every",
    "print_every",
    "output_dir",
    "fresh",
    "content_images",  # a batch's; each of its runs has its own content_image
    "each_style",
    "cluster",  # where a run is painted does not change it
    "cpus_per_task",
    "serve",  # the studio's own settings
    "host",
    "port",
)
# In the identity by their content.
INPUT_FILES = (
    "content_image",
    "style_images",
    "init",
    "weights_file",
    "style_masks",
    "style_region_masks",
    "content_mask",
)
VIDEO_SETTINGS = (
    "first_frame",
    "frame_count",
    "frame_every",
    "frame_iterations",
    "temporal_weight",
    "temporal_gaps",
    "video_passes",  # only when more than one: a one-sweep video keeps the folder it had before --passes
)
CHUNK_SETTINGS = ("chunk_frames", "chunk_overlap")  # in the identity of a video painted in chunks only
NAME_STEMS_MAX = 80  # characters of the folder name taken by the images' names; with the digest and the
# longest file name in it (<name>-<size>px-tile000.png and the like) well within the 255 of file systems


def run_identity(settings, weights_digest):
    """(folder name, identity): the same inputs and settings always map to the same run folder.

    Inputs count by content, not by name: an image replaced under the same name is another run, and
    the same file named another way (a relative or absolute path, a link) is the same run.
    """
    left_out = NOT_IN_RUN_IDENTITY + INPUT_FILES
    if is_video_source(settings.content_image):
        # A video's finished frames are never painted again, so other iterations make another run rather
        # than extend this one; more frames (--frames) go on from fewer.
        left_out = tuple(name for name in left_out if name != "iterations") + ("frame_count",)
    else:
        left_out += VIDEO_SETTINGS
    if not (is_video_source(settings.content_image) and settings.chunk_frames):
        left_out += CHUNK_SETTINGS
    if settings.video_passes == 1:
        left_out += ("video_passes",)
    identity = {k: v for k, v in settings.as_dict().items() if k not in left_out}
    identity["inputs_sha256"] = {
        "content": content_digest(settings.content_image),
        "styles": [file_digest(path) for path in settings.style_images],
        "init": file_digest(settings.init) if os.path.isfile(settings.init) else settings.init,
        "weights": weights_digest,
        "style_masks": [file_digest(path) for path in settings.style_masks],
        "style_region_masks": [file_digest(path) for path in settings.style_region_masks],
        "content_mask": settings.content_mask and file_digest(settings.content_mask),
    }
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    stems = "-".join(safe_name(stem(path), 24) for path in [settings.content_image, *settings.style_images])
    return f"{stems[:NAME_STEMS_MAX].rstrip('-')}-{digest}", identity


def stem(path):
    """What names an input in the run folder's name: its file's name, or an image sequence's folder's."""
    if is_image_sequence(path):
        return os.path.basename(os.path.dirname(os.path.abspath(path)))
    return os.path.splitext(os.path.basename(path))[0]


def content_digest(path):
    """The SHA-256 of the photo or video file; of an image sequence, of every file in its folder that
    its pattern names (names and contents), so that a frame replaced, added or removed is another run."""
    if not is_image_sequence(path):
        return file_digest(path)
    digest = hashlib.sha256()
    for frame in sequence_files(path):
        digest.update(f"{os.path.basename(frame)} {file_digest(frame)}\n".encode())
    return digest.hexdigest()
