"""Images and files: read any common image as RGB float, resize, write atomically, name things safely."""
import os
import re

import numpy as np

# Refuse decompression bombs (a tiny header claiming a gigantic image) before OpenCV allocates them.
MAX_IMAGE_PIXELS = 1 << 28
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
import cv2  # noqa: E402  (reads the variable above at import)

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its own warnings about odd files would only repeat our one-line errors


class ImageError(Exception):
    """An image the user gave cannot be used; the message says which and why."""


def load_image(path):
    """The image at path as float32 RGB, shape (height, width, 3), values 0..255.

    Accepts 8- and 16-bit files, grayscale, alpha (composited over white) and CMYK JPEGs; honours
    the EXIF orientation of photos.
    """
    if not os.path.exists(path):
        raise ImageError(f"image {path} does not exist")
    if not os.path.isfile(path):
        raise ImageError(f"image {path} is not a file")
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as error:
        raise ImageError(f"image {path} cannot be read ({error.strerror})") from None
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if raw is None or raw.size == 0:
        raise ImageError(f"image {path} is empty, truncated or not in a format OpenCV reads")
    if raw.ndim == 3 and raw.shape[2] == 4:
        bgr, alpha = raw[:, :, :3].astype(np.float32), raw[:, :, 3:].astype(np.float32)
        scale = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else 1.0
        bgr = bgr * (alpha / scale) + scale * (1 - alpha / scale)
    else:  # decoded again so that OpenCV applies the EXIF orientation and expands gray or CMYK to BGR
        bgr = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
        if bgr is None:
            raise ImageError(f"image {path} cannot be decoded")
        scale = float(np.iinfo(bgr.dtype).max) if bgr.dtype.kind in "ui" else 1.0
    rgb = bgr[:, :, ::-1].astype(np.float32) * (255.0 / scale)
    return np.ascontiguousarray(np.clip(rgb, 0, 255))


def fit_long_side(shape, size_px):
    """(height, width) with the longer side size_px and the aspect ratio of shape kept."""
    height, width = shape[:2]
    scale = size_px / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image, height, width):
    """Resample to (height, width): area averaging when shrinking, bicubic when enlarging."""
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return np.clip(resized, 0, 255)


def encode_png(image):
    """PNG bytes of an RGB float image (values are rounded and clipped to 0..255)."""
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)[:, :, ::-1]
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise OSError("PNG encoding failed")
    return encoded.tobytes()


def write_atomic(path, data):
    """Write bytes via a temporary file and a rename: a kill mid-write never leaves a truncated file."""
    tmp = f"{path}.partial"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_image(path, image):
    write_atomic(path, encode_png(image))


def safe_name(text, max_length=60):
    """A file-name fragment legal on Windows, macOS and Linux: letters, digits, '-', '_' and '.'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return name[:max_length] or "image"


def open_run_folder(output_dir, name, fresh):
    """(folder, resuming): the latest folder of this run, or a new one if there is none or `fresh` is set.

    Runs of the same settings go to name, name-2, name-3, ...: starting afresh never overwrites one.
    Raises OSError when the folder cannot be written, before any expensive work.
    """
    os.makedirs(output_dir, exist_ok=True)
    pattern = re.compile(re.escape(name) + r"(?:-(\d+))?")
    numbers = sorted(int(m.group(1) or 1) for m in map(pattern.fullmatch, os.listdir(output_dir)) if m)
    resuming = bool(numbers) and not fresh
    number = numbers[-1] if resuming else (numbers[-1] + 1 if numbers else 1)
    folder = os.path.join(output_dir, name if number == 1 else f"{name}-{number}")
    os.makedirs(folder, exist_ok=True)
    probe = os.path.join(folder, ".write-test")
    with open(probe, "wb"):
        pass
    os.remove(probe)
    return folder, resuming
