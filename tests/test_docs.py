"""The documentation site: the Griffe extension that renders the RST docstrings as Markdown, the
runnable examples of docs/extending.md, and the nav of mkdocs.yml (the strict build itself runs in
CI as `make docs`)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def rst():
    pytest.importorskip("griffe", reason="needs the docs extra")
    spec = importlib.util.spec_from_file_location("griffe_rst", DOCS / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simple_table_becomes_pipe_table_with_continuation_rows(rst):
    text = (
        "Intro:\n\n"
        "======  ==========\n"
        "name    formula\n"
        "======  ==========\n"
        "rate    ``r / T``\n"
        "        continued\n"
        "abs     ``|x|``\n"
        "======  ==========\n"
        "\nAfter."
    )
    lines = rst.rst_to_markdown(text).splitlines()
    assert "| name | formula |" in lines
    assert "| rate | ``r / T`` continued |" in lines
    assert r"| abs | ``\|x\|`` |" in lines
    assert lines[-1] == "After."


def test_literal_block_doctest_and_roles(rst):
    text = "Step::\n\n    v = beta * v + x\n    s = H(v - thr)\n\nSee :class:`~brain_ai.core.Foo` and :func:`bar`.\n\n>>> f(1)\n2"
    out = rst.rst_to_markdown(text)
    assert "Step:\n\n```text\nv = beta * v + x\ns = H(v - thr)\n```" in out
    assert "See `Foo` and `bar`." in out
    assert "```pycon\n>>> f(1)\n2\n```" in out


def test_shared_args_entry_becomes_one_entry_per_name(rst):
    text = "Run.\n\n    Args:\n        a, b,\n        c: the inputs.\n            More.\n        d: other.\n"
    lines = rst.rst_to_markdown(text).splitlines()
    assert lines[2:8] == [
        "    Args:",
        "        a: the inputs.",
        "            More.",
        "        b: as `a`.",
        "        c: as `a`.",
        "        d: other.",
    ]


def test_extending_examples_run():
    """The code blocks of docs/extending.md are complete programs: run them in order."""
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "extending.md").read_text(), re.S)
    assert len(blocks) == 4  # the neuron, the neuron parameter recipe, the encoder, the loss
    for block in blocks:  # compiled without this file's __future__ imports, as a program of its own
        exec(compile(block, "docs/extending.md", "exec", dont_inherit=True), {"__name__": "docs_example"})


def test_nav_lists_every_page_and_every_page_exists():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)  # !!python/name tags of mkdocs.yml
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=Loader)

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)

    in_nav = sorted(pages(config["nav"]))
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert in_nav == on_disk


def test_readme_is_the_short_entry_page():
    """The README stays a newcomer's page (issue 12: at most ~250 lines); its Python example runs and
    its results table is the one docs/getting-started.md includes (between snippet markers)."""
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert "<!-- --8<-- [start:results] -->" in text and "<!-- --8<-- [end:results] -->" in text
    assert '--8<-- "README.md:results"' in (DOCS / "getting-started.md").read_text()
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})


def test_config_field_comments_become_attribute_docstrings(rst):
    """The ``#:`` comments of brain_ai/config/schema.py are what the API reference shows for each field."""
    import griffe

    config = griffe.load(
        "brain_ai.config", search_paths=[str(REPO)], extensions=griffe.load_extensions(rst.FieldComments)
    )
    beta = config["NeuronConfig"].members["beta"]
    assert beta.docstring.value.startswith("per-step membrane decay in [0, 0.999]")
    assert config["SNNConfig"].members["checkpoint_every"].docstring.value.startswith("exact BPTT with bounded memory")
    assert config["NeuronConfig"].members["beta"].docstring.value.endswith("Allowed: [0.0, 0.999].")
    assert config["NeuronConfig"].members["threshold"].docstring.value == "Allowed: (0.0, inf)."  # no comment
    assert config["NeuronConfig"].members["psn_order"].docstring.value.endswith("Allowed: integer in [1, inf).")
    assert config["SNNConfig"].members["dropout"].docstring.value == "Allowed: [0.0, 1.0)."
    assert config["NeuronConfig"].members["reset"].docstring is None  # an enum field: no range
    assert rst.field_comment(["x = 1", "#: first", "  #: second", "y: int = 2"], 4) == "first second"
    assert rst.field_comment(["#: not mine", "", "y: int = 2"], 3) == ""
