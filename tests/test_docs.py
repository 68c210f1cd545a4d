"""The README and docs/*.md against the program and the repository: every `style_transfer.py` command they
show uses flags that --help lists, with values the program accepts (parsed, never run), and every relative
link, image, module and test they name exists. Cheap: one import of style_transfer, no painting."""

import contextlib
import io
import re
import shlex

import pytest
from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


COMMAND = re.compile(r"(?:\.venv/bin/)?python style_transfer\.py([^`\n]*)")  # up to the code span's end
MAKE_DEMO = re.compile(r'make demo ARGS="([^"]*)"')
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
TEST_NAME = re.compile(r"(?:tests/)?(test_\w+\.py)|::(test_\w+)")


def doc_id(path):
    return str(path.relative_to(REPO))


def commands(text):
    """The argument lists of the program's commands in a document: `python style_transfer.py ...` (in
    a code span or a code block, continued lines joined, a trailing `# comment` cut) and `make demo ARGS=`."""
    text = text.replace("\\\n", " ")
    found = [re.split(r"\s#\s", match.group(1))[0] for match in COMMAND.finditer(text)]
    found += [match.group(1) for match in MAKE_DEMO.finditer(text)]
    return [shlex.split(arguments) for arguments in found]


def flag_fragments(text, flags):
    """Code spans such as `--style-scale 2` or `--size 384 --iterations 100`: a span whose first flag is
    the program's (spans of other tools, `--parts run` of the benchmark, `ray start --head`, are not)."""
    spans = [span.split() for span in CODE_SPAN.findall(text)]
    return [span for span in spans if span[0].split("=")[0] in flags]


@pytest.fixture(scope="module")
def program():
    """(style_transfer, the flags its --help lists), from one parse of --help."""
    import style_transfer

    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
        style_transfer.parse_args(["--help"])
    return style_transfer, set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text.getvalue()))


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_command_in_the_docs_uses_flags_and_values_the_program_accepts(doc, program):
    style_transfer, flags = program
    text = doc.read_text()
    for arguments in commands(text):
        unknown = [word for word in arguments if word.startswith("--") and word.split("=")[0] not in flags]
        assert not unknown, f"{doc_id(doc)}: {' '.join(arguments)}: {unknown} not in --help"
        if any("<" in word for word in arguments) or "--help" in arguments:  # <placeholders> are not values
            continue
        refusal = io.StringIO()
        with contextlib.redirect_stderr(refusal):
            try:
                style_transfer.parse_args(arguments)
            except SystemExit:
                pytest.fail(f"{doc_id(doc)}: python style_transfer.py {' '.join(arguments)}: {refusal.getvalue()}")
    for span in flag_fragments(text, flags):
        unknown = [word for word in span if word.startswith("--") and word.split("=")[0] not in flags]
        assert not unknown, f"{doc_id(doc)}: `{' '.join(span)}`: {unknown} not in --help"


def anchors(doc):
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#{1,6} (.+)$", doc.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_relative_link_and_image_in_the_docs_points_to_a_file(doc):
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.is_relative_to(REPO), f"{doc_id(doc)}: {target} leaves the repository"
        assert file.exists(), f"{doc_id(doc)}: {target} does not exist"
        if anchor:
            assert file.suffix == ".md" and anchor in anchors(file), f"{doc_id(doc)}: {target}: no such heading"


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_module_and_test_the_docs_name_exists(doc):
    """`neural_style/work/passes.py`, `benchmarks/benchmark.py --parts run` (paths from the repository's
    root; a bare name is a top-level module or a test file), `tests/test_masks.py`, and tests as
    `test_run_folder.py::test_name`, later spans of the line naming more of that file as `::another_test`."""
    for line in doc.read_text().splitlines():
        test_file = None
        for span in CODE_SPAN.findall(line):
            first = span.split()[0]
            if first.endswith(".py"):
                places = [REPO / first] if "/" in first else [REPO / first, REPO / "tests" / first]
                assert any(place.is_file() for place in places), f"{doc_id(doc)}: `{span}`: no such file"
            for file_name, test in TEST_NAME.findall(span):
                test_file = REPO / "tests" / file_name if file_name else test_file
                assert test_file is not None, f"{doc_id(doc)}: `{span}`: which test file?"
                if test:
                    assert f"def {test}(" in test_file.read_text(), f"{doc_id(doc)}: `{span}`: not in {test_file.name}"
