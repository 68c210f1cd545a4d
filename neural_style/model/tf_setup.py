"""TensorFlow, imported once and set up for this program: oneDNN's kernels on, its start-up noise off,
and the precision VGG19 runs in. Every module takes `tf` from here.

`tf` is imported on first use, not when a module names it: settings, images, weights and the run
folder are all checked before the seconds TensorFlow takes to load are spent.

TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 and the like; on others (AMD Zen,
older Intel) it would use Eigen, whose step is slower (benchmarks/README.md). The variable acts only
before TensorFlow's first import; a value the user set wins.
"""

import functools
import os

PRECISIONS = ("auto", "float32", "bfloat16")


@functools.cache
def load_tensorflow():
    """Import TensorFlow (once) without the C++ log lines that bypass TF_CPP_MIN_LOG_LEVEL; `tf` calls
    this on first use, a caller that wants the seconds it takes spent now calls it itself."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    stderr_fd = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            import tensorflow

            tensorflow.constant(0)  # the device set-up logs on first use, not on import
        finally:
            os.dup2(stderr_fd, 2)
            os.close(stderr_fd)
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


class _TensorFlowOnFirstUse:
    def __getattr__(self, name):
        return getattr(load_tensorflow(), name)


tf = _TensorFlowOnFirstUse()


def onednn_enabled():
    """Whether TensorFlow runs its CPU kernels through oneDNN in this process (it decides at import)."""
    load_tensorflow()
    from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own flag; there is no public API

    return _pywrap_util_port.IsMklEnabled()


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's feature flags as /proc/cpuinfo lists them; none where it cannot be read (not Linux)."""
    try:
        with open(cpuinfo) as f:
            return set(next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []))
    except OSError:
        return set()


def native_bfloat16(cpuinfo="/proc/cpuinfo", onednn=None):
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX) and oneDNN is on: only
    then are bfloat16 convolutions faster than float32 ones; elsewhere they are emulated and many
    times slower (benchmarks/README.md)."""
    if not (onednn_enabled() if onednn is None else onednn):
        return False
    flags = cpu_flags(cpuinfo)
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision):
    """'auto' becomes bfloat16 where the CPU has it and float32 elsewhere; the others stay as they are."""
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision
