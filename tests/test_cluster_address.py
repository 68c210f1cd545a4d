"""--cluster at an address where something other than Ray listens: refused in one line within the
connection's time-out (no Ray needed: a plain TCP server of the test's own), and Ctrl-C while
connecting ends the program at once."""

import signal
import socket
import threading
import time

import pytest
from conftest import run_cli, start_cli, wait_for

from neural_style.runs.cluster import CONNECT_TIMEOUT_S

QUICK = ["--size", "16", "--iterations", "1", "--scales", "1"]
STARTUP_S = 40  # the program's own start (TensorFlow, the weights) on a loaded machine, before it connects


class Service:
    """A TCP server on 127.0.0.1 that accepts every connection, answers `reply` (nothing if None) and
    keeps it open."""

    def __init__(self, reply=None):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.reply, self.connections = reply, []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            if self.reply:
                connection.sendall(self.reply)
            self.connections.append(connection)

    def close(self):
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture(params=[None, b"HTTP/1.1 400 Bad Request\r\n\r\n"], ids=["silent", "http"])
def service(request):
    started = Service(request.param)
    yield started
    started.close()


def test_a_service_that_is_not_ray_is_refused_in_one_line_within_the_time_out(service, tmp_path):
    started = time.monotonic()
    done = run_cli(*QUICK, "--cluster", service.address, "--output-dir", tmp_path, timeout=STARTUP_S + 60)
    assert time.monotonic() - started < STARTUP_S + CONNECT_TIMEOUT_S
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()  # none of Ray's warnings
    assert line == (
        f"error: {service.address} is not a Ray cluster's head (no gRPC answer within {CONNECT_TIMEOUT_S} s); "
        "check the port: `ray start --head` there prints it (6379 unless --port said otherwise)"
    )
    assert service.connections  # it was asked


def test_ctrl_c_while_connecting_ends_at_once(tmp_path):
    silent = Service()
    process = start_cli(*QUICK, "--cluster", silent.address, "--output-dir", tmp_path)
    try:
        wait_for(lambda: silent.connections, process, timeout_s=STARTUP_S + 60)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=CONNECT_TIMEOUT_S + 20)
        # Not at the time-out: at once (the exit itself, Ray's and TensorFlow's, takes 3-5 s here when loaded).
        assert time.monotonic() - interrupted < CONNECT_TIMEOUT_S
        assert process.returncode == 130
        assert stderr.strip().splitlines() == ["stopped while connecting to the Ray cluster"]
    finally:
        process.kill()  # if it is still waiting
        process.communicate()
        silent.close()
