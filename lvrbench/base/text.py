"""Text on a page from values that may come from anywhere: numbers as tables write them, any other value as inert text,
GitHub markdown tables, the protocol a page lists from its results' configs.

Results come from pull requests: every string a page prints from one (an error, provenance, a source, a name, a
setting) goes through `inert`, which escapes it for markdown and HTML, so no result can add a tag, a link, an image or
a table cell to a page. Markdown a task composes itself (a link to one of its figures) is marked `Markdown`; `table`
prints every other cell through `inert`.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from tabulate import tabulate

from .hashing import canonical_json


def fmt_number(x: float, digits: int = 3, scale: float = 1.0) -> str:
    """`digits` significant figures, trailing zeros kept (0.750, 99.1, 0.0235)."""
    text = f"{x * scale:#.{digits}g}"
    return text[:-1] if text.endswith(".") else text


def fmt_estimate(e: dict, digits: int = 3, scale: float = 1.0) -> str:
    """"value [low, high]" for a {value, low, high, n} estimate with its 95% interval."""
    return f"{fmt_number(e['value'], digits, scale)} [{fmt_number(e['low'], digits, scale)}, {fmt_number(e['high'], digits, scale)}]"


def config_values(results: Iterable[dict], path: str) -> list:
    """The distinct values of the config field at the dotted `path` (e.g. "settings.gan.latent_dim") across
    `results`, in first-seen order; results without the field add nothing."""
    out: list = []
    for r in results:
        value = r["config"]
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
        else:
            if value not in out:
                out.append(value)
    return out


class Markdown(str):
    """Markdown a task composes itself (never text from a result): `inert` and `table` print it as it is."""


#: What `inert` escapes: what opens an HTML tag, comment or entity ("<" before a letter, "/", "!" or "?"; "&" before
#: a letter or "#") as an entity; each markdown construct that can make a link, image, code span, emphasis,
#: strike-through, math or table cell by a backslash (CommonMark's escape of ASCII punctuation; "_" inside a word
#: ("x86_64", "burn_in") opens no emphasis and stays); GitHub's extended
#: autolinks ("www.", "x://"); and an e-mail address, which cmark-gfm links whatever is escaped, by a zero-width space
#: before its "@" (what ends its local part). What reads as prose stays as it is: "a < b", "0.5 [0.4, 0.6]".
_ENTITIES = re.compile(r"&(?=[#A-Za-z])|<(?=[A-Za-z/!?])|@")
_ESCAPED = re.compile(r"[\\`*~|$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\](?=[(\[:])|(?<=[Ww]{3})\.|:(?=//)")
#: ... and what opens a block at the start of a line: a heading, a quote, a list item, a setext underline.
_OPENING = re.compile(r"^(?=#{1,6}(?:\s|$)|>|[+-](?:\s|$)|=+$|-+$)|(?<=^\d)[.)](?=\s|$)|(?<=^\d\d)[.)](?=\s|$)"
                      r"|(?<=^\d\d\d)[.)](?=\s|$)")


def inert(value: object) -> str:
    """`value` as text a page prints inertly: on one line, escaped for markdown and HTML (see `_ESCAPED`); `Markdown`
    a task composed passes unchanged. The one escape every page path uses for what comes from a result."""
    return _escape(value, _OPENING)


def _escape(value: object, opening: re.Pattern | None) -> str:
    """`inert`; a table cell, never at the start of a line, leaves what opens a line (`opening` None: "-" stays "-")."""
    if isinstance(value, Markdown):
        return str(value)
    text = " ".join(str(value).split())
    text = _ENTITIES.sub(lambda m: {"&": "&amp;", "<": "&lt;", "@": "&#8203;@"}[m.group()], text)
    text = _ESCAPED.sub(lambda m: "\\" + m.group(), text)
    return opening.sub(lambda m: "\\" + m.group(), text) if opening else text


def link(label: object, target: str) -> Markdown:
    """A markdown link to one of the page's own files (`Page.figure`'s relative paths), its label inert."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*", target) or ".." in target.split("/"):
        raise ValueError(f"{target!r} is not a relative path inside the leaderboard root")
    return Markdown(f"[{inert(label)}]({target})")


def value_text(value: object) -> str:
    """A config value in a page's prose: numbers as tables write them, anything else as inert text (results are data)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_text(value) if isinstance(value, float) else str(value)
    return inert(value if isinstance(value, str) else canonical_json(value))


def values_text(values: Sequence) -> str:
    """Distinct values as "a" or "a, b or c", numbers in increasing order."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values = sorted(values)
    texts = [value_text(v) for v in values]
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"


def grid_text(results: Iterable[dict]) -> str:
    """The hyper-parameter grid the results cover: "lr 0.01, 0.032 or 0.1; weight 0 or 1" ("" when there is none)."""
    results = list(results)
    names = sorted({k for r in results for k in r["config"]["hparams"]})
    return "; ".join(f"{name} {values_text(config_values(results, f'hparams.{name}'))}" for name in names)


def protocol_items(source: str, results: Sequence[dict], fields: Sequence[tuple[str, str]]) -> list[str]:
    """A page's protocol as a short list: "after `source`", then one item per field with its values in these results'
    configs, then their grid.

    `fields` are (label, dotted config path) pairs; a field none of the results has is left out, so the list states
    only what the numbers on the page came from.
    """
    items = [f"after {source}"] if source else []
    items += [f"{label} {values_text(values)}" for label, path in fields if (values := config_values(results, path))]
    if grid := grid_text(results):
        items.append(f"grid: {grid}")
    return items


def number_text(value: float) -> str:
    """The shortest text that reads back as `value` ("3", "0.0032", "1.0000001"): distinct values never look alike."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def hparams_text(hparams: dict, skip: Sequence[str] = ()) -> str:
    """"a=2, b=2.5" for a cell's hyper-parameters ("-" when there are none)."""
    return ", ".join(f"{k}={number_text(v)}" for k, v in sorted(hparams.items()) if k not in skip) or "-"


def _cell(value: object) -> str:
    """A table cell: `inert` text, or a task's `Markdown` on one line with its '|' escaped (it cannot end the cell)."""
    if isinstance(value, Markdown):
        return " ".join(value.split()).replace("|", "\\|")
    return _escape(value, None)


def table(rows: list[list], headers: Sequence[str]) -> str:
    """A GitHub markdown table of inert cells (`Markdown` cells as the task composed them); headers are the task's."""
    return tabulate([[_cell(v) for v in row] for row in rows], headers=list(headers), tablefmt="github",
                    disable_numparse=True)
