"""The studio: a page in the browser that starts this program's runs, shows them forming, stops and
resumes them, and lists the run folders (docs/studio.md)."""

from neural_style.errors import UserError


class Refused(UserError):
    """A request the studio does not carry out: a name with a path, a file outside what it serves or
    reads, a file too big or of another kind, a flag or value the page does not offer."""


def serve(settings, table, described):
    """server.serve, once its web framework is known to be installed (it is not needed to paint)."""
    try:
        from neural_style.studio.server import serve as serve_studio
    except ImportError as error:
        raise UserError(
            f"--serve needs Starlette and uvicorn ({error}): pip install -r requirements-studio.txt"
        ) from None
    serve_studio(settings, table, described)
