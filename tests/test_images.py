"""load_image on broken and odd files: each one loads as float32 RGB 0..255 or raises ImageError."""

import resource
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utils import MAX_FILE_BYTES, MAX_IMAGE_PIXELS, ImageError, load_image

REPO = Path(__file__).resolve().parents[1]


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bytes(width, height, bit_depth, colour_type, rows, extra_chunks=b""):
    """A PNG written byte by byte, for what OpenCV cannot write: lying headers, gray+alpha."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra_chunks
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def encode(ext, pixels, *params):
    ok, data = cv2.imencode(ext, pixels, list(params))
    assert ok
    return data.tobytes()


def jpeg_segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_parts(jpeg):
    """{marker: payload} of the segments before the scan, and the scan's entropy-coded data under "scan"."""
    parts, i = {}, 2
    while True:
        marker, length = jpeg[i + 1], struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
        parts[marker] = jpeg[i + 4 : i + 2 + length]
        i += 2 + length
        if marker == 0xDA:
            parts["scan"] = jpeg[i : jpeg.rindex(b"\xff\xd9")]
            return parts


def cmyk_jpeg(planes):
    """A 4-component (CMYK, Adobe-inverted as Photoshop writes it) baseline JPEG built from four
    grayscale JPEGs by OpenCV: baseline JPEG allows one scan per component, and each grayscale
    file's scan is exactly such a scan. They share quantization and Huffman tables (same quality)."""
    height, width = planes[0].shape
    parts = [jpeg_parts(encode(".jpg", plane, cv2.IMWRITE_JPEG_QUALITY, 100)) for plane in planes]
    frame = struct.pack(">BHHB", 8, height, width, 4) + b"".join(bytes([c, 0x11, 0]) for c in (1, 2, 3, 4))
    data = (
        b"\xff\xd8"
        + jpeg_segment(0xEE, b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 0))
        + jpeg_segment(0xDB, parts[0][0xDB])
        + jpeg_segment(0xC0, frame)
        + jpeg_segment(0xC4, parts[0][0xC4])
    )
    for component, part in enumerate(parts, 1):
        data += jpeg_segment(0xDA, bytes([1, component, 0x00, 0, 63, 0])) + part["scan"]
    return data + b"\xff\xd9"


def exif_orientation(orientation):
    """A big-endian TIFF block holding one IFD with just the Orientation tag."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"MM\0*" + struct.pack(">IH", 8, 1) + entry + struct.pack(">I", 0)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def gradient(height=48, width=64):
    y, x = np.mgrid[:height, :width]
    return np.dstack([x * 255 // width, y * 255 // height, (x + y) % 256]).astype(np.uint8)


def assert_valid_image(image, shape=None):
    assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 255
    if shape is not None:
        assert image.shape == shape


def assert_refused(path, match):
    with pytest.raises(ImageError, match=match) as caught:
        load_image(path)
    assert "\n" not in str(caught.value)


def assert_refused_cheaply(path, match):
    """Refused within half a second, without raising the peak memory of this process by 50 MB."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    assert_refused(path, match)
    assert time.perf_counter() - start < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kib < 50 * 1024


# --- Files that are not images ----------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert_refused(str(tmp_path / "nope.png"), "does not exist")


def test_directory(tmp_path):
    assert_refused(str(tmp_path), "is not a file")


def test_empty_file(tmp_path):
    assert_refused(write(tmp_path, "empty.png", b""), "is empty")


def test_random_bytes(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()
    assert_refused(write(tmp_path, "noise.png", data), "not in a format OpenCV reads")


def test_text_file_named_jpg(tmp_path):
    assert_refused(write(tmp_path, "notes.jpg", b"This is not a photo.\n" * 20), "not in a format OpenCV reads")


def test_file_too_big_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big.bmp"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    start = time.perf_counter()
    assert_refused(str(path), "MB, too big to load")
    assert time.perf_counter() - start < 1


# --- Damaged images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_first_half_of_a_file_is_refused(tmp_path, ext):
    # OpenCV 5 gives up on a short PNG or JPEG (even one missing only the JPEG end marker) rather
    # than return a partly grey image.
    data = encode(ext, gradient())
    assert_refused(write(tmp_path, "half" + ext, data[: len(data) // 2]), "truncated")


def test_huge_dimensions_in_a_small_header_are_refused_before_allocating(tmp_path):
    # 100000 x 100000 RGB would be 30 GB as bytes and 120 GB as float32.
    assert_refused_cheaply(write(tmp_path, "huge.png", png_bytes(100_000, 100_000, 8, 2, b"\0" * 301)), "too large")


def test_png_chunk_claiming_4_gb_is_refused_before_allocating(tmp_path):
    # OpenCV 5 would allocate and zero the claimed 4 GB before noticing the file is 80 bytes long.
    png = png_bytes(8, 8, 8, 0, b"\0" * 72)
    idat = png.index(b"IDAT") - 4
    lying = png[:idat] + struct.pack(">I", 0xFFFFFFF0) + png[idat + 4 :]
    assert_refused_cheaply(write(tmp_path, "liar.png", lying), "PNG chunk claims more bytes than the file has")


def test_jpeg_repeating_a_scan_many_times_is_refused_quickly(tmp_path):
    # Decoding this 38 kB file of 1000 scans would take seconds (7 s here): each scan is a pass over all pixels.
    jpeg = encode(".jpg", np.full((2000, 2000, 3), 255, np.uint8), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert load_image(write(tmp_path, "progressive.jpg", jpeg)).shape == (2000, 2000, 3)
    last_scan = jpeg[jpeg.rindex(b"\xff\xda") : -2]
    assert_refused_cheaply(write(tmp_path, "scans.jpg", jpeg[:-2] + last_scan * 1000 + b"\xff\xd9"), "scans")


def test_pixel_limit_is_in_force_where_utils_is_imported_before_cv2(tmp_path):
    # OpenCV reads its limit when cv2 is first imported: this process may have imported it before utils.
    side = int(MAX_IMAGE_PIXELS**0.5) + 1
    path = write(tmp_path, "just-too-big.png", png_bytes(side, side, 8, 2, b"\0" * 301))
    code = "import sys, utils\ntry:\n    utils.load_image(sys.argv[1])\nexcept utils.ImageError as e:\n    print(e)"
    result = subprocess.run([sys.executable, "-c", code, path], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "too large" in result.stdout, result.stdout + result.stderr


def test_allowed_dimensions_without_the_pixels_are_refused_quickly(tmp_path):
    assert_refused_cheaply(write(tmp_path, "hollow.png", png_bytes(8000, 8000, 8, 2, b"\0" * 301)), "truncated")


# --- Odd but valid images ---------------------------------------------------------------------------


def test_one_pixel(tmp_path):
    image = load_image(write(tmp_path, "dot.png", encode(".png", np.array([[[10, 20, 30]]], np.uint8))))
    assert_valid_image(image, (1, 1, 3))
    assert image[0, 0].tolist() == [30, 20, 10]


def test_16_bit_png_is_scaled_to_0_255(tmp_path):
    pixel = np.array([[[1000, 25700, 65535]]], np.uint16)  # BGR
    image = load_image(write(tmp_path, "deep.png", encode(".png", pixel)))
    assert_valid_image(image, (1, 1, 3))
    np.testing.assert_allclose(image[0, 0], [255, 100, 1000 / 257], rtol=1e-6)


def test_grayscale_png_has_three_equal_channels(tmp_path):
    gray = np.array([[0, 77, 255]], np.uint8)
    image = load_image(write(tmp_path, "gray.png", encode(".png", gray)))
    assert_valid_image(image, (1, 3, 3))
    assert (image == gray[:, :, None]).all()


def test_png_alpha_is_composited_over_white(tmp_path):
    bgra = np.array([[[0, 0, 200, 255], [0, 0, 0, 0], [100, 100, 100, 51]]], np.uint8)
    image = load_image(write(tmp_path, "alpha.png", encode(".png", bgra)))
    assert_valid_image(image, (1, 3, 3))
    np.testing.assert_allclose(image[0], [[200, 0, 0], [255, 255, 255], [224, 224, 224]], atol=1e-3)


def test_gray_plus_alpha_png_is_composited_over_white(tmp_path):
    rows = b"\0" + bytes([40, 255, 40, 0])  # filter byte, then (gray, alpha) pairs
    image = load_image(write(tmp_path, "gray-alpha.png", png_bytes(2, 1, 8, 4, rows)))
    assert_valid_image(image, (1, 2, 3))
    assert image[0].tolist() == [[40, 40, 40], [255, 255, 255]]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    # Adobe-inverted CMYK stores 255 - ink: no cyan, full magenta and yellow, no black is red;
    # the right half has no magenta, so it is yellow.
    cyan, magenta, yellow, black = (np.full((8, 16), value, np.uint8) for value in (255, 0, 0, 255))
    magenta[:, 8:] = 255
    image = load_image(write(tmp_path, "cmyk.jpg", cmyk_jpeg([cyan, magenta, yellow, black])))
    assert_valid_image(image, (8, 16, 3))
    np.testing.assert_allclose(image[:, :8], np.broadcast_to([255, 0, 0], (8, 8, 3)), atol=3)
    np.testing.assert_allclose(image[:, 8:], np.broadcast_to([255, 255, 0], (8, 8, 3)), atol=3)


def red_corner_bgr():
    """16 x 32 black, with a red 8 x 8 block in the top left corner."""
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:8, :8] = (0, 0, 255)
    return pixels


def assert_rotated_clockwise(image):
    """The red top-left corner of red_corner_bgr, turned 90 degrees clockwise, is at the top right."""
    assert_valid_image(image, (32, 16, 3))
    red_block, top_left = image[2:6, -6:-2], image[2:6, 2:6]  # inner parts: JPEG blurs colour edges
    assert (red_block[:, :, 0] > 240).all() and (red_block[:, :, 1:] < 15).all()
    assert (top_left < 15).all()


def test_exif_orientation_6_jpeg_is_rotated(tmp_path):
    jpeg = encode(".jpg", red_corner_bgr(), cv2.IMWRITE_JPEG_QUALITY, 100)
    assert load_image(write(tmp_path, "plain.jpg", jpeg)).shape == (16, 32, 3)
    app1 = jpeg_segment(0xE1, b"Exif\0\0" + exif_orientation(6))
    assert_rotated_clockwise(load_image(write(tmp_path, "rotated.jpg", jpeg[:2] + app1 + jpeg[2:])))


def test_exif_orientation_6_png_with_alpha_is_rotated(tmp_path):
    bgra = np.dstack([red_corner_bgr(), np.full((16, 32), 255, np.uint8)])
    png = encode(".png", bgra)
    after_ihdr = 8 + 25
    exif = png_chunk(b"eXIf", exif_orientation(6))
    assert_rotated_clockwise(load_image(write(tmp_path, "rotated.png", png[:after_ihdr] + exif + png[after_ihdr:])))


def test_float_file_with_nan_and_infinity_stays_in_range(tmp_path):
    # PFM holds float32 RGB, meant as 0..1; nothing stops a file from holding NaN or infinities.
    values = np.array([np.nan, np.inf, -np.inf, 0.5, 2.0, -1.0], "<f4")
    image = load_image(write(tmp_path, "odd.pfm", b"PF\n2 1\n-1.0\n" + values.tobytes()))
    assert_valid_image(image, (1, 2, 3))
    assert image[0].tolist() == [[0, 255, 0], [127.5, 255, 0]]


# --- Anything at all --------------------------------------------------------------------------------

SEED_FILES = [
    encode(".png", gradient(12, 10)),
    encode(".jpg", gradient(12, 10)),
    encode(".png", np.dstack([gradient(6, 5), gradient(6, 5)[:, :, :1]])),
]
# Sizes in between are fine too, but a JPEG claiming one decodes for seconds (see MAX_IMAGE_PIXELS).
SMALL_SIDES, HUGE_SIDES = st.integers(0, 1024), st.sampled_from([2**16 - 1, 2**20, 2**20 + 1, 2**31 - 1])
SIZES = st.tuples(SMALL_SIDES, SMALL_SIDES) | st.tuples(HUGE_SIDES, HUGE_SIDES)


def resized_headers(width, height):
    """A PNG (with a correct CRC) and a JPEG whose headers claim this size; the pixels are those of a
    small image or missing."""
    jpeg = SEED_FILES[1]
    size_at = jpeg.index(b"\xff\xc0") + 5  # SOF0: marker, length, precision, then height and width
    return [
        png_bytes(width, height, 8, 2, b"\0" * 31),
        jpeg[:size_at] + struct.pack(">HH", height % 2**16, width % 2**16) + jpeg[size_at + 4 :],
    ]


@st.composite
def mutated_images(draw):
    """A small valid PNG or JPEG with a few bytes changed, then perhaps cut short."""
    data = bytearray(draw(st.sampled_from(SEED_FILES)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 4))
        if draw(st.booleans()):
            data[position] = draw(st.integers(0, 255))
        else:  # extreme values in the 4-byte lengths and sizes of headers drive decoders' allocations
            data[position : position + 4] = draw(st.sampled_from([0, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])).to_bytes(
                4, "big"
            )
    return bytes(data[: draw(st.integers(1, len(data)))])


@pytest.fixture(scope="module")
def scratch_file(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz") / "input")


@settings(max_examples=500, deadline=None)
@given(
    data=st.one_of(
        st.binary(min_size=1, max_size=4096),
        mutated_images(),
        SIZES.map(lambda size: resized_headers(*size)).flatmap(st.sampled_from),
    )
)
def test_any_bytes_load_as_an_image_or_raise_image_error(scratch_file, data):
    with open(scratch_file, "wb") as f:
        f.write(data)
    try:
        image = load_image(scratch_file)
    except ImageError as error:
        assert "\n" not in str(error)
    else:
        assert_valid_image(image)
