"""Video in and out, one frame at a time: a clip is never held whole in memory.

Reading goes through OpenCV's FFmpeg for video files and through its image-sequence reader for
patterns such as frames/%04d.png (numbered from 0 or 1). OpenCV's reader stops at the first number
missing or unreadable; here a sequence that stops before its last file is an error instead, as a
clip cut short without a word would be. Frames come as the program's images do: RGB float32,
values 0..255.

Writing makes VP9 video in a WebM file: the one browser-playable format that OpenCV's bundled
FFmpeg (opencv-python-headless 5.0.0.93) can encode. It has no H.264 ('avc1' fails to open: no
openh264) nor AV1 encoder; MPEG-4 part 2 ('mp4v') and Motion JPEG encode but browsers do not play
them. Its output is VP9 profile 0, 4:2:0 8-bit, which every current browser plays.

FFmpeg's own messages (such as "A non-intra slice in an IDR NAL unit" on the first frame of some
H.264 files) would print around the program's output; they are turned off here, as the one-line
VideoError says what matters. OPENCV_FFMPEG_LOGLEVEL=32 in the environment brings them back.
"""

import contextlib
import math
import os
import re

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read when FFmpeg is first used
import cv2  # noqa: E402

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its warnings only repeat our errors
import numpy as np  # noqa: E402

from neural_style.errors import UserError  # noqa: E402

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".avi", ".mkv", ".webm", ".mov")
DEFAULT_FPS = 25.0  # for image sequences, which have none, and containers that do not say
# A header's rate outside this is taken as wrong (a header that says 0.001 fps): the writer's VP9
# encoder refuses rates under 0.01, and a clip of a frame a second or slower is no film.
SANE_FPS = (1.0, 1000.0)
_FRAME_NUMBER = re.compile(r"%0?\d*d")  # the printf field OpenCV's image-sequence reader takes


class VideoError(UserError):
    """A video that cannot be read or written; the message is one line and names the file."""


def is_video_source(path):
    """Whether path names a video file (by its extension) or an image-sequence pattern (frames/%04d.png)."""
    return str(path).lower().endswith(VIDEO_EXTENSIONS) or is_image_sequence(path)


def is_image_sequence(path):
    return bool(_FRAME_NUMBER.search(os.path.basename(str(path))))


def open_video(path, first_frame=0, frame_count=None, every=1, fps=None):
    """The video or image sequence at path, opened and its first wanted frame decoded: a Video.

    It yields the source's frames first_frame, first_frame + every, first_frame + 2 every, ...,
    at most frame_count of them, until the decoder stops (a container's own frame count can be
    wrong). fps overrides the source's frame rate (an image sequence has none: DEFAULT_FPS).
    Raises VideoError if path is missing, not a video, or has no frame from first_frame on.
    """
    path = str(path)
    if first_frame < 0 or every < 1 or (frame_count is not None and frame_count < 1):
        raise ValueError(f"bad frame selection: first {first_frame}, count {frame_count}, every {every}")
    files = None
    if is_image_sequence(path):
        kind, folder = "image sequence", os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            raise VideoError(f"image sequence {path}: folder {folder} does not exist")
        files = sequence_files(path)
        capture = cv2.VideoCapture(path, cv2.CAP_IMAGES)
        if not capture.isOpened():
            if not files:
                raise VideoError(f"image sequence {path}: no file in {folder} matches the pattern")
            raise VideoError(
                f"image sequence {path}: cannot read {files[0]} (the first frame, whose number must be 0 or 1)"
            )
    else:
        kind = "video"
        if not os.path.isfile(path):
            raise VideoError(f"video {path} {'is not a file' if os.path.exists(path) else 'does not exist'}")
        if os.path.getsize(path) == 0:
            raise VideoError(f"video {path} is empty")
        capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise VideoError(f"video {path} is truncated, corrupt or not a video format OpenCV's FFmpeg reads")
    return Video(capture, f"{kind} {path}", first_frame, frame_count, every, fps, files)


def sequence_files(pattern):
    """The files an image-sequence pattern names (frames/%04d.png: frames/0001.png, ...) that are in its
    folder, in the order of their numbers."""
    folder, name = os.path.split(str(pattern))
    field = _FRAME_NUMBER.search(name)
    numbered = re.compile(re.escape(name[: field.start()]) + r"(\d+)" + re.escape(name[field.end() :]))
    files = []
    for candidate in os.listdir(folder or "."):
        match = numbered.fullmatch(candidate)
        if match and name % int(match.group(1)) == candidate:
            files.append((int(match.group(1)), os.path.join(folder, candidate)))
    return [path for _, path in sorted(files)]


def count_frames(path, first_frame=0, frame_count=None, every=1):
    """How many frames open_video(path, ...) yields, by decoding them all: exact, and slow for long videos."""
    with open_video(path, first_frame, frame_count, every) as video:
        return sum(1 for _ in video)


class Video:
    """An open video: fps (frames per second of what it yields), size (width, height) in pixels,
    and an iterator of its frames, RGB float32 (height, width, 3), values 0..255, decoded one at a
    time. Iterating to the end, close() or a with block releases the decoder."""

    def __init__(self, capture, name, first_frame, frame_count, every, fps, files=None):
        self._capture, self._name, self._every = capture, name, every
        self._files = files  # an image sequence's, all of which must be read: OpenCV stops at the first it cannot
        self._remaining = math.inf if frame_count is None else frame_count
        source_fps = fps or capture.get(cv2.CAP_PROP_FPS)
        self.fps_note = None  # a line for the user when the source's own rate is not used
        if files is None and (0 < source_fps < SANE_FPS[0] or source_fps > SANE_FPS[1]):
            self.fps_note = f"note: {name} says {source_fps:g} frames per second; its video is made at {DEFAULT_FPS:g}"
            source_fps = DEFAULT_FPS
        self.fps = (source_fps if source_fps > 0 else DEFAULT_FPS) / every
        self.size = None
        # Decoding the frames before first_frame, rather than seeking, since seeks in compressed video
        # land on key frames or wherever the container's index says.
        self._index = -1  # the source's index of the last frame read
        self._pending = self._read(skip=first_frame)
        if self._pending is None:
            self.close()
            since = f" from frame {first_frame} on" if first_frame else ""
            raise VideoError(f"{name} has no frame that decodes{since}")
        self.size = (self._pending.shape[1], self._pending.shape[0])

    def __iter__(self):
        return self

    def __next__(self):
        frame, self._pending = self._pending, None
        if frame is None and self._remaining > 0:
            frame = self._read(skip=self._every - 1)
        if frame is None:  # the end, or frame_count frames given
            self.close()
            raise StopIteration
        self._remaining -= 1
        return frame

    def _read(self, skip):
        """The frame after skipping `skip` frames, as RGB float32, or None at the end."""
        for _ in range(skip):
            if not self._capture.grab():
                return self._end()
            self._index += 1
        ok, pixels = self._capture.read()
        if not ok:
            return self._end()
        self._index += 1
        if self.size and (pixels.shape[1], pixels.shape[0]) != self.size:
            self.close()
            raise VideoError(
                f"{self._name}: frame {self._index} is {pixels.shape[1]}x{pixels.shape[0]} pixels, "
                f"the first {self.size[0]}x{self.size[1]}; all frames must have one size"
            )
        return _rgb(pixels)

    def _end(self):
        """None at the end of the source; a VideoError where an image sequence stops before its last file."""
        if self._files is not None and self._index + 1 < len(self._files):
            self.close()
            unread = self._files[self._index + 1]
            raise VideoError(f"{self._name}: cannot read {unread}: it is unreadable, or a number before it is missing")
        return None

    def close(self):
        self._capture.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _rgb(pixels):
    """A decoded frame, grey, BGR or BGRA, 8 or 16 bits (images in a sequence can be any of these),
    as RGB float32 0..255, alpha composited over white as the program does for still images."""
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    scale = 255 / np.iinfo(pixels.dtype).max if pixels.dtype.kind in "ui" else 255.0  # float files hold 0..1
    rgb = (pixels[..., 2::-1] if pixels.shape[2] >= 3 else pixels[..., [0, 0, 0]]).astype(np.float32) * scale
    if pixels.shape[2] in (2, 4):
        alpha = np.clip(pixels[..., -1:] * np.float32(scale / 255), 0, 1)
        rgb = rgb * alpha + 255 * (1 - alpha)
    return np.clip(rgb, 0, 255)


class VideoWriter:
    """Writes RGB frames (float 0..255 or uint8, all of the size given) as a VP9 WebM video at path.

    The video goes to name.partial.webm beside path and is renamed to path by close(): a run
    killed midway never leaves a half video under the final name. Width and height are made even
    (4:2:0 video stores colour per 2x2 pixels; OpenCV would do the same) by dropping the last
    column or row of every frame: size is what is written. In a with block, an exception deletes
    the partial file and a normal end closes the video.
    """

    def __init__(self, path, fps, size):
        self.path = str(path)
        if not self.path.lower().endswith(".webm"):
            raise VideoError(f"video {self.path}: only WebM (.webm) videos can be written")
        self._frame_shape = (size[1], size[0])
        self.size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        if min(self.size) < 2 or not fps > 0:
            raise ValueError(f"cannot write a video of {size[0]}x{size[1]} pixels at {fps} frames per second")
        self.frames_written = 0
        self._partial = self.path[: -len(".webm")] + ".partial.webm"
        # OpenCV prints a line saying 'VP90' is not WebM's tag for VP9, then uses VP9 all the same
        with _stderr_silenced():
            self._writer = cv2.VideoWriter(
                self._partial, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"VP90"), float(fps), self.size
            )
        if not self._writer.isOpened():
            raise VideoError(f"video {self._partial} cannot be created (does its folder exist and is it writable?)")

    def write(self, frame):
        if frame.shape != self._frame_shape + (3,):
            raise ValueError(f"frame of shape {frame.shape}, the video's is {self._frame_shape + (3,)}")
        pixels = np.clip(np.rint(frame[: self.size[1], : self.size[0]]), 0, 255).astype(np.uint8)
        self._writer.write(cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self):
        """Finish the video and give it its final name; a video without frames is an error."""
        self._writer.release()
        if not self.frames_written:
            self.abort()
            raise ValueError(f"video {self.path} has no frames")
        descriptor = os.open(self._partial, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # on disk before the rename, as the program's other files
        finally:
            os.close(descriptor)
        os.replace(self._partial, self.path)

    def abort(self):
        """Stop writing and delete the partial video."""
        self._writer.release()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._partial)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            self.close()
        else:
            self.abort()


@contextlib.contextmanager
def _stderr_silenced():
    """Sends what C code writes to stderr (file descriptor 2) to /dev/null meanwhile."""
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
