"""The studio (python style_transfer.py --serve) in a real browser: Debian's chromium, headless, driven
by Selenium. The server runs as the program itself on 127.0.0.1; every wait has a time-out."""

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

import cv2
import pytest

from tests.conftest import REPO

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
START_S = 60  # a job's start: a Python process that loads TensorFlow and the weights, on a loaded machine
RUN_S = 120
ITERATIONS = 16


def need_chromium():
    """The browser tests run where chromium is; in CI (CI=true) its absence is a failure, not a skip."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        message = f"{' and '.join(missing)} missing: apt-get install -y chromium chromium-driver"
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(message)


def wait_for(condition, timeout_s, what):
    """condition()'s first true value, looked at every 0.1 s; fails after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """(url, output dir) of a studio served by `style_transfer.py --serve` for this module's tests."""
    need_chromium()
    root = tmp_path_factory.mktemp("studio")
    output_dir = root / "outputs"
    server = subprocess.Popen(
        [sys.executable, str(REPO / "style_transfer.py"), "--serve", "--output-dir", str(output_dir)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=START_S)
        url = re.match(r"studio: (http://127\.0\.0\.1:\d+)/", first)
        assert url, first
        yield url.group(1), output_dir
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def chromium(download_dir, profile_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir)})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture
def browsers(tmp_path):
    """browsers(n): n fresh headless chromiums, quit at the end."""
    opened = []

    def open_browsers(count):
        for _ in range(count):
            number = len(opened)
            opened.append(chromium(tmp_path / f"downloads{number}", tmp_path / f"profile{number}"))
        return opened

    yield open_browsers
    for driver in opened:
        driver.quit()


def tiny_images(folder):
    """A 64 px photo and painting cut down from the bundled ones."""
    paths = []
    for source, name in (("cincinnati_bridge.jpg", "bridge.png"), ("starry_night.jpg", "starry.png")):
        pixels = cv2.imread(str(REPO / "images" / source))
        cv2.imwrite(str(folder / name), cv2.resize(pixels, (64, 48), interpolation=cv2.INTER_AREA))
        paths.append(folder / name)
    return paths


def open_page(driver, url):
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait_for(lambda: driver.find_elements(By.ID, "control--size"), 20, "the page's controls")


def text(driver, selector):
    from selenium.webdriver.common.by import By

    return " ".join(element.text for element in driver.find_elements(By.CSS_SELECTOR, selector))


def send_inputs(driver, photo, painting):
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "content-file").send_keys(str(photo))
    wait_for(lambda: photo.name in text(driver, "#content-chosen"), 20, "the photo uploaded")
    driver.find_element(By.ID, "style-file").send_keys(str(painting))
    wait_for(lambda: painting.name in text(driver, "#style-chosen"), 20, "the painting uploaded")
    for flag, value in (("size", 64), ("scales", 1), ("iterations", ITERATIONS), ("save-every", 2), ("print-every", 2)):
        field = driver.find_element(By.ID, f"control--{flag}")
        field.clear()
        field.send_keys(str(value))
    driver.find_element(By.ID, "start").click()


def job_card(driver):
    from selenium.webdriver.common.by import By

    return wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".job"), 20, "a job on the page")[0]


def test_a_page_run_paints_live_stops_resumes_and_is_the_command_lines_run(studio, browsers, tmp_path):
    """Two pages send the same run: the first paints it, the second watches. The live picture changes
    as snapshots are saved; Stop leaves it resumable, Resume goes on from its checkpoint to the final
    picture, which downloads byte for byte; a second job waits its turn; the command the page shows,
    typed by hand, is the same run in the same folder."""
    from selenium.webdriver.common.by import By

    url, output_dir = studio
    photo, painting = tiny_images(tmp_path)
    painter, watcher = browsers(2)
    open_page(painter, url)
    open_page(watcher, url)
    send_inputs(painter, photo, painting)
    card = job_card(painter)
    send_inputs(watcher, photo, painting)
    wait_for(lambda: "watching" in text(watcher, "#message"), 20, "the second page told it watches")
    watched = job_card(watcher)
    assert watched.find_element(By.CSS_SELECTOR, ".watching").is_displayed()
    assert not watched.find_element(By.CSS_SELECTOR, ".stop").is_enabled()

    def live(page_card=card):
        return page_card.find_element(By.CSS_SELECTOR, "img.live").get_attribute("data-path") or ""

    def state(page_card=card):
        return page_card.find_element(By.CSS_SELECTOR, ".state").text

    seen = [wait_for(lambda: "-step" in live() and live(), START_S, "the first live picture")]
    card.find_element(By.CSS_SELECTOR, ".stop").click()
    wait_for(lambda: state() == "stopped", RUN_S, "the job stopped")
    folder = output_dir / card.find_element(By.CSS_SELECTOR, ".title").text.split(": ")[1]
    assert '"status": "stopped"' in (folder / "settings.json").read_text()
    wait_for(lambda: state(watched) == "stopped" and live(watched), 10, "the watching page to see it stopped")

    card.find_element(By.CSS_SELECTOR, ".resume").click()
    wait_for(lambda: state() == "running", 10, "the job running again")
    other = watcher.find_element(By.ID, "control--seed")
    other.clear()
    other.send_keys("1")
    watcher.find_element(By.ID, "start").click()
    queued = wait_for(lambda: watcher.find_elements(By.CSS_SELECTOR, '.job[data-id="2"]'), 10, "a second job")[0]
    wait_for(lambda: "place 1 in the queue" in queued.text, 10, "the second job's place in the queue")
    queued.find_element(By.CSS_SELECTOR, ".stop").click()
    wait_for(lambda: state(queued) == "stopped", 10, "the queued job taken out of the queue")

    def finished():
        if live() != seen[-1]:
            seen.append(live())
        return state() == "finished" and live().endswith("-final.png")

    wait_for(finished, START_S + RUN_S, "the final picture")
    assert re.search(r"resuming \S+ from step [1-9]", text(painter, ".job .note")), text(painter, ".job .note")
    steps = [int(re.search(r"step(\d+)", path).group(1)) for path in seen if "-step" in path]
    assert len(steps) >= 2 and steps == sorted(set(steps)), seen
    assert seen[-1] == f"{folder.name}/{folder.name}-final.png"

    card.find_element(By.CSS_SELECTOR, ".download-final").click()
    downloaded = tmp_path / "downloads0" / f"{folder.name}-final.png"
    wait_for(downloaded.exists, 20, "the download")
    assert downloaded.read_bytes() == (folder / f"{folder.name}-final.png").read_bytes()

    typed = shlex.split(card.find_element(By.CSS_SELECTOR, ".command").text)
    assert typed[:2] == ["python", "style_transfer.py"]
    by_hand = subprocess.run(
        [sys.executable, str(REPO / "style_transfer.py"), *typed[2:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=START_S + RUN_S,
    )
    assert by_hand.returncode == 0, by_hand.stderr
    assert f"run folder: {folder}\n" in by_hand.stdout
    assert f"{folder.name}-final.png" in by_hand.stdout


def test_bad_input_gets_a_message_and_nothing_is_written_outside_outputs(studio, browsers, tmp_path):
    from selenium.webdriver.common.by import By

    url, output_dir = studio
    root = output_dir.parent
    secret = root / "secret.txt"
    secret.write_text("the secret")
    output_dir.mkdir(exist_ok=True)
    (output_dir / "link.txt").symlink_to(secret)
    outside_before = sorted(path for path in root.rglob("*") if output_dir not in path.parents)
    (driver,) = browsers(1)
    open_page(driver, url)

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are words, not pixels")
    too_big = tmp_path / "big.png"
    with open(too_big, "wb") as f:
        f.truncate((50 << 20) + 1)
    for path, message in ((not_an_image, "not an image or video"), (too_big, "over 50 MB")):
        driver.find_element(By.ID, "content-file").send_keys(str(path))
        wait_for(lambda message=message: message in text(driver, "#message.error"), 30, f"{message!r} on the page")
    png = list(cv2.imencode(".png", cv2.imread(str(REPO / "images" / "starry_night.jpg"))[:32, :32])[1].tobytes())
    driver.execute_script(
        "studio.upload(new File([new Uint8Array(arguments[0])], 'a/../../evil.png'), '--content')", png
    )
    wait_for(lambda: "a file name with a path" in text(driver, "#message.error"), 10, "the ../ name refused")
    assert text(driver, "#content-chosen") == ""

    for outside in ("..%2Fsecret.txt", "link.txt", "%2Fetc%2Fpasswd"):
        driver.get(f"{url}/files/{outside}")
        shown = text(driver, "body")
        assert "only files inside the output folder" in shown and "the secret" not in shown, shown
    open_page(driver, url)  # still serving
    assert sorted(path for path in root.rglob("*") if output_dir not in path.parents) == outside_before
    uploaded = [path.name for path in (output_dir / "uploads").rglob("*") if path.is_file()]
    assert not {"notes.png", "big.png", "evil.png"} & set(uploaded), uploaded


def test_a_page_request_becomes_the_command_line_a_user_would_type_and_nothing_else(tmp_path):
    """No browser: the argv a page's request is turned into, read back by the program's own parser;
    a request naming another flag, a file outside the uploads and bundled images, or a value that
    would read as a flag is refused; --cluster and --weights of the server pass on to every run."""
    import argparse

    import style_transfer
    from neural_style.errors import UserError
    from neural_style.studio import controls, server

    table = {name: (flag, how, getattr(style_transfer, name)) for name, (flag, how) in style_transfer.FLAGS.items()}
    page = controls.page_controls(table, style_transfer.descriptions())
    uploads = tmp_path / "out" / "uploads"
    uploads.mkdir(parents=True)
    photo, painting = tiny_images(uploads)
    (tmp_path / "elsewhere.png").write_bytes(photo.read_bytes())
    allowed = [str(uploads), controls.IMAGES_DIR]
    cluster = argparse.Namespace(cluster="", cpus_per_task=2, weights_file=None)
    passed_on = server.passed_on_flags(cluster)
    assert passed_on == ["--cluster", "--cpus-per-task", "2"]

    good = {"files": {"--content": [str(photo)], "--style": [str(painting)]}, "values": {"--size": "64", "--seed": "0"}}
    argv = controls.command(good, page, str(tmp_path / "out"), allowed, passed_on)
    assert argv[:2] == [sys.executable, str(REPO / "style_transfer.py")]
    settings = style_transfer.parse_args(argv[2:])
    assert (settings.content_image, settings.style_images) == (str(photo), (str(painting),))
    assert (settings.size_px, settings.output_dir, settings.cluster, settings.cpus_per_task) == (
        64,
        str(tmp_path / "out"),
        "",
        2,
    )
    assert "--seed" not in argv  # a default is left out, as a user would leave it out

    for bad, message in (
        ({"values": {"--iterations": "5 --output-dir /etc"}}, "needs a value that is a number or a word"),
        ({"values": {"--output-dir": "/etc"}}, "the page cannot set '--output-dir'"),
        ({"files": {"--content": [str(tmp_path / "elsewhere.png")]}}, "not one of the uploaded or bundled"),
        ({"files": {"--content": [str(uploads / ".." / ".." / "elsewhere.png")]}}, "not one of the uploaded"),
        ({"files": {"--init": [str(photo)]}}, "the page cannot set '--init'"),
    ):
        request = {"files": {**good["files"], **bad.get("files", {})}, "values": bad.get("values", {})}
        with pytest.raises(UserError, match=re.escape(message)):
            controls.command(request, page, str(tmp_path / "out"), allowed, passed_on)
