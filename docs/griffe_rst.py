"""Griffe extension: brain_ai's reStructuredText docstrings rendered as Markdown by mkdocstrings.

The docstrings are written for ``help()`` and Sphinx-style readers: simple tables (``=====``
borders), ``::`` literal blocks, ``>>>`` examples and roles such as ``:class:`X```. mkdocstrings
renders docstrings as Markdown, where those would come out garbled, so this extension rewrites
each docstring once the object tree is loaded (the Python files stay as they are):

* simple tables -> pipe tables (a row whose first cell is blank continues the row above);
* ``text::`` + indented block -> ``text:`` + fenced ``text`` block;
* ``>>>`` example lines -> fenced ``pycon`` block;
* ``:role:`target``` -> ```target``` (``~a.b.C`` -> ``C``);
* an ``Args:`` entry naming several parameters (``a, b: text``, names may wrap) -> one entry per
  name (``a: text``, ``b: as `a`.``), the form Griffe's Google parser reads.

:class:`FieldComments` gives each attribute without a docstring the ``#:`` comment lines right
above it (the field comments of the config dataclasses in ``brain_ai/config/schema.py``, which stay
their one source), so the API reference shows every config field's description.

Loaded from mkdocs.yml (``extensions: [docs/griffe_rst.py:FieldComments, docs/griffe_rst.py:RstToMarkdown]``).
"""

from __future__ import annotations

import re
from typing import Any, List

import griffe

_BORDER = re.compile(r"^(\s*)(=+)(\s+=+)+\s*$")
_ARGS_HEADER = re.compile(r"^(\s*)(Args|Arguments|Parameters|Keyword Args):\s*$")
_SHARED_ARG = re.compile(r"^(\s+)(\w+(?:,\s*\w+)+):\s*(.*)$")
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc|math|ref|py:\w+):`(~?)([^`]+)`")


def _columns(border: str) -> List[tuple]:
    """(start, end) character spans of the ``=`` runs of a simple-table border line."""
    return [match.span() for match in re.finditer(r"=+", border)]


def _cells(line: str, spans: List[tuple]) -> List[str]:
    """The cells of one table line; the last column runs to the end of the line."""
    cells = []
    for index, (start, _end) in enumerate(spans):
        stop = spans[index + 1][0] if index + 1 < len(spans) else len(line)
        cells.append(line[start:stop].strip())
    return cells


def _pipe_row(cells: List[str]) -> str:
    return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"


def _table(lines: List[str], start: int) -> tuple:
    """Convert the simple table whose top border is ``lines[start]``; returns (markdown lines, next index)."""
    spans = _columns(lines[start])
    borders = [start]
    index = start + 1
    while index < len(lines) and len(borders) < 3:
        if _BORDER.match(lines[index]):
            borders.append(index)
        elif not lines[index].strip():
            break
        index += 1
    if len(borders) == 2:  # a headless table: top and bottom border only
        header, body = None, lines[borders[0] + 1 : borders[1]]
    elif len(borders) == 3:
        header, body = lines[borders[0] + 1 : borders[1]], lines[borders[1] + 1 : borders[2]]
    else:
        return [lines[start]], start + 1
    rows: List[List[str]] = []
    for line in body:
        cells = _cells(line, spans)
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    head = (
        [" ".join(_cells(line, spans)[i] for line in header).strip() for i in range(len(spans))]
        if header
        else [""] * len(spans)
    )
    out = ["", _pipe_row(head), "|" + "---|" * len(spans), *(_pipe_row(row) for row in rows), ""]
    return out, borders[-1] + 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _split_shared_args(lines: List[str]) -> List[str]:
    """Expand ``a, b: text`` entries of Google ``Args:`` sections into one entry per name."""
    out: List[str] = []
    section_indent = None
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _ARGS_HEADER.match(line)
        if header:
            section_indent = len(header.group(1))
        elif line.strip() and section_indent is not None and _indent(line) <= section_indent:
            section_indent = None
        if section_indent is not None and not header:
            while line.rstrip().endswith(",") and index + 1 < len(lines) and re.fullmatch(r"[\w,\s]+", line.strip()):
                index += 1
                line = line.rstrip() + " " + lines[index].strip()
            shared = _SHARED_ARG.match(line)
            if shared:
                indent, names, text = shared.group(1), [n.strip() for n in shared.group(2).split(",")], shared.group(3)
                out.append(f"{indent}{names[0]}: {text}")
                index += 1
                while index < len(lines) and lines[index].strip() and _indent(lines[index]) > len(indent):
                    out.append(lines[index])
                    index += 1
                out.extend(f"{indent}{name}: as `{names[0]}`." for name in names[1:])
                continue
        out.append(line)
        index += 1
    return out


def rst_to_markdown(text: str) -> str:
    """The Markdown form of one reStructuredText docstring (see the module docstring)."""
    roles = _ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text)
    lines = _split_shared_args(roles.splitlines())
    out: List[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _BORDER.match(line):
            converted, index = _table(lines, index)
            out.extend(converted)
            continue
        if line.lstrip().startswith(">>>"):
            block = []
            while index < len(lines) and lines[index].strip():
                block.append(lines[index].strip() if lines[index].lstrip().startswith((">>>", "...")) else lines[index])
                index += 1
            out.extend(["```pycon", *block, "```"])
            continue
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            stripped = line.rstrip()[:-2].rstrip()
            if stripped:
                out.append(stripped + ":")
            base = _indent(line)
            index += 1
            block = []
            while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > base):
                block.append(lines[index])
                index += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            if block:
                margin = min(_indent(b) for b in block if b.strip())
                out.extend(["", "```text", *(b[margin:] for b in block), "```", ""])
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrites every docstring of the loaded package with :func:`rst_to_markdown`."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)


def field_comment(lines: List[str], lineno: int) -> str:
    """The ``#:`` comment lines right above line ``lineno`` (1-based) of ``lines``, joined; ``""`` if none."""
    comment: List[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return " ".join(comment)


def field_range(module: str, cls: str, name: str) -> str:
    """``"Allowed: <interval>."`` for field ``name`` of the config dataclass ``module.cls`` when it
    declares a range (its ``RANGE`` metadata, :class:`brain_ai.config.schema.Range`), else ``""``.
    Only the stdlib-only config modules (``brain_ai.config.*``) are imported to read it."""
    if not module.startswith("brain_ai.config"):
        return ""
    import dataclasses
    import importlib

    owner = getattr(importlib.import_module(module), cls, None)
    if not (isinstance(owner, type) and dataclasses.is_dataclass(owner)):
        return ""
    fields = {f.name: f for f in dataclasses.fields(owner)}
    bounds = fields[name].metadata.get("range") if name in fields else None
    return "" if bounds is None else f"Allowed: {bounds}."


class FieldComments(griffe.Extension):
    """An attribute without a docstring gets its ``#:`` comment (see :func:`field_comment`) as one,
    followed by the range a config field declares (:func:`field_range`)."""

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        if attr.docstring is not None or not attr.lineno or attr.filepath is None:
            return
        text = field_comment(attr.lines_collection[attr.filepath], attr.lineno)
        if attr.parent is not None and attr.parent.is_class:
            text = " ".join(filter(None, [text, field_range(attr.module.path, attr.parent.name, attr.name)]))
        if text:
            attr.docstring = griffe.Docstring(text, lineno=attr.lineno, parent=attr)
