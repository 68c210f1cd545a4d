"""The studio's web server (Starlette on uvicorn): its one page, the files it uploads, the jobs it
starts, their live state as Server-Sent Events, and the files of the output folder."""

import asyncio
import contextlib
import json
import os
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from neural_style.errors import UserError
from neural_style.studio import Refused, controls, library
from neural_style.studio.jobs import JobQueue
from neural_style.studio.uploads import UPLOAD_MAX_MB, UPLOADS, save_upload

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
PAGE_HEADER = "X-Studio-Page"  # which page (browser tab) asks; a custom header also keeps other sites' forms out
EVENT_CHECK_S = 0.3  # how often the live state is looked at for a change
IMAGE_NAMES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".webm", ".mp4")


class Studio:
    """What the routes share: the output folder, the page's controls, the flags passed on, the queue."""

    def __init__(self, output_dir, page_controls, passed_on):
        self.output_dir, self.controls, self.passed_on = output_dir, page_controls, passed_on
        self.jobs = JobQueue()

    def page_of(self, request):
        page = request.headers.get(PAGE_HEADER)
        if not page:
            raise UserError(f"requests that change something need the {PAGE_HEADER} header the page sends")
        return page

    async def setup(self, request):
        bundled = sorted(name for name in os.listdir(controls.IMAGES_DIR) if name.lower().endswith(IMAGE_NAMES))
        return JSONResponse(
            {
                "controls": self.controls,
                "bundled": [os.path.join(controls.IMAGES_DIR, name) for name in bundled],
                "upload_max_mb": UPLOAD_MAX_MB,
                "output_dir": self.output_dir,
                "passed_on": self.passed_on,
            }
        )

    async def upload(self, request):
        self.page_of(request)
        name = request.query_params.get("name", "")
        data, size = bytearray(), 0
        async for chunk in request.stream():  # read to the end, kept only within the limit: a browser
            size += len(chunk)  # whose upload is cut short shows its own error, not ours
            if size <= UPLOAD_MAX_MB << 20:
                data += chunk
        if size > UPLOAD_MAX_MB << 20:
            raise Refused(f"refused {name}: over {UPLOAD_MAX_MB} MB")
        path = await asyncio.to_thread(save_upload, self.output_dir, name, bytes(data))
        return JSONResponse({"path": path, "name": os.path.basename(path)})

    async def submit(self, request):
        page = self.page_of(request)
        try:
            asked = await request.json()
        except ValueError:
            raise UserError("the request is not JSON") from None
        allowed = [controls.IMAGES_DIR, os.path.join(self.output_dir, UPLOADS)]
        argv = controls.command(asked, self.controls, self.output_dir, allowed, self.passed_on)
        job = self.jobs.submit(argv, page)
        return JSONResponse({"id": job.number, "command": controls.shown(argv), "owner": job.owner})

    async def stop(self, request):
        self.jobs.stop(request.path_params["number"], self.page_of(request))
        return JSONResponse({"ok": True})

    async def resume(self, request):
        self.jobs.resume(request.path_params["number"], self.page_of(request))
        return JSONResponse({"ok": True})

    def state(self):
        """The jobs, each with its command and its run folder's pictures so far."""
        views = self.jobs.views()
        for view in views:
            folder = view["folder"] and os.path.join(self.output_dir, view["folder"])
            view["pictures"] = library.pictures(folder) if folder and os.path.isdir(folder) else None
        return views

    async def events(self, request):
        async def stream():
            sent = None
            while True:
                state = json.dumps({"jobs": await asyncio.to_thread(self.state)})
                if state != sent:
                    yield f"data: {state}\n\n"
                    sent = state
                await asyncio.sleep(EVENT_CHECK_S)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def runs(self, request):
        folders = await asyncio.to_thread(library.run_folders, self.output_dir)
        return JSONResponse({"runs": [library.run_summary(path) for path in folders]})

    async def file(self, request):
        path = library.file_inside(self.output_dir, request.path_params["path"])
        download = request.query_params.get("download")
        return FileResponse(
            path,
            filename=os.path.basename(path) if download else None,
            headers={"Cache-Control": "no-store"},
        )


async def refused(request, error):
    """A UserError: its line, as JSON to the page's requests and as text to a link followed."""
    status = 403 if isinstance(error, Refused) else 400
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(error)}, status)
    return PlainTextResponse(str(error), status)


async def not_found(request, error):
    return PlainTextResponse(f"{error.detail}: {request.url.path}", error.status_code)


def studio_app(studio):
    page = os.path.join(PAGE_DIR, "index.html")
    routes = [
        Route("/", lambda request: FileResponse(page)),
        Mount("/page", StaticFiles(directory=PAGE_DIR)),
        Route("/api/setup", studio.setup),
        Route("/api/upload", studio.upload, methods=["POST"]),
        Route("/api/jobs", studio.submit, methods=["POST"]),
        Route("/api/jobs/{number:int}/stop", studio.stop, methods=["POST"]),
        Route("/api/jobs/{number:int}/resume", studio.resume, methods=["POST"]),
        Route("/api/events", studio.events),
        Route("/api/runs", studio.runs),
        Route("/files/{path:path}", studio.file),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        # Here, not after the server returns: uvicorn raises the Ctrl-C again once it is done, and the
        # program's own handler of an early Ctrl-C then ends the process at once.
        await asyncio.to_thread(studio.jobs.close)

    handlers = {UserError: refused, HTTPException: not_found}
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)


def passed_on_flags(settings):
    """The server's flags that every page run gets too: where it paints and with which weights."""
    flags = []
    if settings.cluster is not None:
        flags += ["--cluster", *([settings.cluster] if settings.cluster else [])]
        flags += ["--cpus-per-task", str(settings.cpus_per_task)]
    if settings.weights_file:
        flags += ["--weights", os.path.abspath(settings.weights_file)]
    return flags


def serve(settings, table, described):
    """Serve the studio on settings.host and settings.port (0: a free one, printed) until Ctrl-C or
    SIGTERM; then stop the run under way, which saves as it does on Ctrl-C."""
    output_dir = os.path.abspath(settings.output_dir)
    studio = Studio(output_dir, controls.page_controls(table, described), passed_on_flags(settings))
    try:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        listener = socket.create_server((settings.host, settings.port), family=family)
    except OSError as error:
        raise UserError(f"cannot serve on {settings.host} port {settings.port} ({error.strerror})") from None
    host, port = listener.getsockname()[:2]
    print(f"studio: http://{host}:{port}/  (runs go to {output_dir}; Ctrl-C ends it)", flush=True)
    config = uvicorn.Config(studio_app(studio), log_level="warning", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[listener])
