"""Images and colour: read any common image as RGB float, resize, write, compose; colour transfer; start images."""

import os

import numpy as np

from neural_style.errors import ImageError

# Refuse decompression bombs (a tiny header claiming a gigantic image) before OpenCV allocates them.
# The limit also bounds what any file can cost, since a JPEG, GIF or BMP of a few hundred bytes can
# decode into a whole canvas: 2**26 is 67 megapixels (more than most cameras' photos), 0.8 GB as
# float32 RGB and a few seconds of work.
MAX_IMAGE_PIXELS = 1 << 26
MAX_FILE_BYTES = 4 * MAX_IMAGE_PIXELS  # room for an uncompressed 8-bit RGBA file of that size
# Progressive JPEGs have about 10 scans. libjpeg decodes every scan over the whole image, however
# many there are, so a small file repeating one scan thousands of times would take hours.
MAX_JPEG_SCANS = 100
os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(MAX_IMAGE_PIXELS)
import cv2  # noqa: E402  (OpenCV reads the variable once: when cv2 is first imported in the process)

cv2.utils.logging.setLogLevel(
    cv2.utils.logging.LOG_LEVEL_SILENT
)  # its own warnings about odd files would only repeat our one-line errors


def load_image(path, data=None, background=255):
    """The image at path as float32 RGB, shape (height, width, 3), values 0..255; from `data`, the
    file's bytes read elsewhere (a cluster's worker gets them from the driver), if given.

    Accepts 8- and 16-bit and float files, grayscale, alpha (composited over the grey level
    `background`: white, or black for a mask, whose transparent part is outside its region) and CMYK
    JPEGs; honours the EXIF orientation of photos. Raises ImageError, with a one-line reason, for anything else.
    """
    if data is None:
        data = read_image_file(path)
    elif len(data) > MAX_FILE_BYTES:
        raise ImageError(f"image {path} is over {MAX_FILE_BYTES >> 20} MB, too big to load")
    if data.startswith(b"\x89PNG\r\n\x1a\n") and not _png_chunks_fit(data):
        raise ImageError(f"image {path} is truncated or corrupt: a PNG chunk claims more bytes than the file has")
    # Counts FF DA, which starts each scan; entropy-coded data never holds it, metadata very rarely.
    if data.startswith(b"\xff\xd8") and data.count(b"\xff\xda") > MAX_JPEG_SCANS:
        raise ImageError(f"image {path} is a JPEG of over {MAX_JPEG_SCANS} scans, too slow to decode")
    try:
        # These three flags together keep the file's channels (so alpha) and bit depth, yet unlike
        # IMREAD_UNCHANGED still apply the EXIF orientation and turn CMYK into BGR.
        flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as error:  # bad data gives None; OpenCV raises only when the header's size fails its limits
        raise ImageError(
            f"image {path} is too large or its header is corrupt (failed OpenCV check: "
            f"{error.err}; at most {MAX_IMAGE_PIXELS:,} pixels are accepted)"
        ) from None
    if pixels is None:
        raise ImageError(f"image {path} is truncated, corrupt or not in a format OpenCV reads")
    return _rgb_over(pixels, background)


def read_image_file(path):
    """The bytes of the image file at path; ImageError if it is missing, not a file, empty or too big."""
    if not os.path.exists(path):
        raise ImageError(f"image {path} does not exist")
    if not os.path.isfile(path):
        raise ImageError(f"image {path} is not a file")
    size = os.path.getsize(path)
    if size == 0:  # also keeps us from blocking on special files that report no size, such as /proc/kmsg
        raise ImageError(f"image {path} is empty")
    if size > MAX_FILE_BYTES:
        raise ImageError(f"image {path} is over {MAX_FILE_BYTES >> 20} MB, too big to load")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise ImageError(f"image {path} cannot be read ({error.strerror})") from None


def _png_chunks_fit(data):
    """Whether every chunk of a PNG, up to IEND, claims no more bytes than the file has.

    OpenCV 5 allocates and zeroes a chunk's claimed length before reading it: a few bytes claiming
    a 4 GB chunk would cost 4 GB and many seconds.
    """
    position = 8
    while position + 8 <= len(data):
        length, kind = int.from_bytes(data[position : position + 4], "big"), data[position + 4 : position + 8]
        position += 12 + length
        if position > len(data):
            return False
        if kind == b"IEND":
            break
    return True


def _rgb_over(pixels, background):
    """Decoded gray, gray+alpha, BGR or BGRA pixels of any depth as float32 RGB 0..255, alpha over the
    grey level `background`."""
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    scale = np.iinfo(pixels.dtype).max if pixels.dtype.kind in "ui" else 1.0  # float files hold 0..1
    rgb = np.empty(pixels.shape[:2] + (3,), np.float32)
    rgb[...] = pixels[:, :, 2::-1] if pixels.shape[2] >= 3 else pixels[:, :, :1]  # gray fills all three
    rgb *= 255 / scale
    if pixels.shape[2] in (2, 4):
        alpha = np.clip(pixels[:, :, -1:] / np.float32(scale), 0, 1)
        rgb *= alpha
        rgb += background * (1 - alpha)
    # fmax and fmin, unlike clip, also turn the NaN that float files can hold into 0
    np.fmax(rgb, 0, out=rgb)
    return np.fmin(rgb, 255, out=rgb)


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


# --- Colour -----------------------------------------------------------------------------------------
# YIQ as in Gatys et al., "Preserving colour in neural artistic style transfer" (arXiv 1606.05897).
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ).astype(np.float32)


def luminance(image):
    """The Y (luma) channel of an RGB image, repeated into three channels."""
    y = image @ RGB_TO_YIQ[0]
    return np.repeat(y[:, :, None], 3, axis=2)


def match_luminance(style_gray, content_gray):
    """Shift and scale the painting's luminance to the photo's mean and spread (paper, section 2.2)."""
    scale = content_gray.std() / max(float(style_gray.std()), 1e-6)
    return np.clip((style_gray - style_gray.mean()) * scale + content_gray.mean(), 0, 255)


def recombine_colour(result_gray, content):
    """The result's luminance with the photo's chroma (I and Q)."""
    yiq = content @ RGB_TO_YIQ.T
    yiq[:, :, 0] = result_gray[:, :, 0]
    return np.clip(yiq @ YIQ_TO_RGB.T, 0, 255)


def match_colour_histogram(style, content):
    """Recolour the painting so that its pixels' mean and covariance are the photo's.

    A linear map x -> C_c^1/2 C_s^-1/2 (x - mu_s) + mu_c, with symmetric square roots, so the
    painting's colour distribution takes the photo's shape without rotating hues needlessly.
    """

    def mean_and_sqrt_covariance(image):
        pixels = image.reshape(-1, 3).astype(np.float64)
        values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False) + 1e-3 * np.eye(3))
        return pixels.mean(axis=0), vectors, np.sqrt(np.maximum(values, 1e-6))

    mean_s, vectors_s, roots_s = mean_and_sqrt_covariance(style)
    mean_c, vectors_c, roots_c = mean_and_sqrt_covariance(content)
    transform = (vectors_c * roots_c) @ vectors_c.T @ (vectors_s / roots_s) @ vectors_s.T
    pixels = (style.reshape(-1, 3) - mean_s) @ transform.T + mean_c
    return np.clip(pixels, 0, 255).reshape(style.shape).astype(np.float32)


# --- Start image ------------------------------------------------------------------------------------
START_IMAGES = ("mix", "content", "style", "noise")


MIX_NOISE_AMPLITUDE = 20.0  # the original's: uniform in +-20 grey levels around the mean


def start_image(kind, content, style, noise_ratio, seed):
    """The optimization's first image, as big as the content, from a seeded generator.

    `mix` is the original's: grey noise (the photo's mean colour +-20) mixed into the photo by
    noise_ratio; `noise` is uniform noise over the whole pixel range; `content` and `style` (resized
    to fit) are those images; anything else is the path of an image file.
    """
    height, width = content.shape[:2]
    rng = np.random.default_rng(seed)
    if kind == "mix":
        noise = content.mean(axis=(0, 1)) + rng.uniform(-MIX_NOISE_AMPLITUDE, MIX_NOISE_AMPLITUDE, content.shape)
        return (noise_ratio * noise + (1 - noise_ratio) * content).astype(np.float32)
    if kind == "noise":
        return rng.uniform(0, 255, content.shape).astype(np.float32)
    if kind == "content":
        return content.copy()
    return resize(style if kind == "style" else load_image(kind), height, width)


def side_by_side(images, height, gap_px=8):
    """One sheet of the images scaled to the same height, separated by white gaps."""
    gap = np.full((height, gap_px, 3), 255, np.float32)
    tiles = [resize(image, height, max(1, round(image.shape[1] * height / image.shape[0]))) for image in images]
    return np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
