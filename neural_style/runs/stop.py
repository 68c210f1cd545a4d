"""The clean stop: Ctrl-C or SIGTERM asks the run to stop after the current step, so that what it
saved is whole and the same command resumes it."""

import signal
import sys


class StopRequest:
    """Ctrl-C or SIGTERM asks the run to stop after the current step; a second one ends it at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal = None

    def __enter__(self):
        self.previous = {number: signal.signal(number, self._request) for number in self.SIGNALS}
        return self

    def _request(self, number, _frame):
        self.signal = signal.Signals(number)
        for other in self.SIGNALS:  # the default action ends the process at once, even inside a TF step
            signal.signal(other, signal.SIG_DFL)
        print(
            f"\n{self.signal.name}: stopping after this step (press Ctrl-C again to quit at once)",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *_):
        for number, handler in self.previous.items():
            signal.signal(number, handler)
