"""The ways a run can end early, each with the exit status the program returns and a message for the
user. Everything a user can cause is one of these; `style_transfer.main` prints its line."""

import errno

import numpy as np


class ProgramExit(Exception):
    """Ends the program with `status` and one line: the message after `prefix`."""

    status = 1
    prefix = ""

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status

    def line(self):
        return self.prefix + str(self)


class UserError(ProgramExit):
    """A setting, file or folder the user gave cannot work; the message says which and what to do."""

    status = 2
    prefix = "error: "


class ImageError(UserError):
    """An image the user gave cannot be used."""


class MaskError(ImageError):
    """A mask cannot be used (not an image, no region, another shape than its image)."""


class WeightsError(UserError):
    """The VGG19 weights cannot be had or are not VGG19's."""


class TooLargeError(UserError):
    """The size asked for needs more memory than the machine has; the message names one that fits."""


class RunStopped(ProgramExit):
    """A signal asked the run to stop; what it wrote is kept and the same command resumes it."""


class Diverged(ProgramExit):
    """The loss or the image stopped being finite numbers; the run cannot go on with these settings."""

    status = 3
    prefix = "error: "

    def __init__(self, step, message="the loss became infinite or NaN"):
        super().__init__(message)
        self.step = step  # the last step whose image was finite


def check_finite(picture, step=0):
    """Diverged unless every value of the picture is finite: a NaN picture is never written or passed
    on (as uint8 it would be black); `step` is the last step saved, for the message."""
    if not np.isfinite(picture).all():
        raise Diverged(step, "the picture holds NaN or infinite values")


def program_exit(error):
    """The ProgramExit that an exception reaching the top of the program ends it with."""
    if isinstance(error, ProgramExit):
        return error
    if isinstance(error, KeyboardInterrupt):  # in a caller's process; the program's own Ctrl-C is handled
        return ProgramExit("interrupted", 130)
    return write_failed(error)  # an OSError while writing, where no message was prepared for it


def write_failed(error, what="output"):
    """A UserError for an OSError met while writing: says what is wrong (space, permission, ...)."""
    where = error.filename or what
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space, then run the same command to resume"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "make it writable or choose another --output-dir"
    else:
        advice = "check the folder, or choose another --output-dir"
    return UserError(f"cannot write {where} ({error.strerror or error}); {advice}")
