"""The CPU that measured: what /proc/cpuinfo says of it (no TensorFlow, for parent processes too)."""


def cpu_fields():
    """The first CPU's lines of /proc/cpuinfo, as {field: value}."""
    with open("/proc/cpuinfo") as f:
        first_cpu = f.read().split("\n\n")[0]
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first_cpu.splitlines())}
