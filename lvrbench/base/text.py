"""Text on a page from values that may come from anywhere: numbers as tables write them, config values as inert code,
GitHub markdown tables, the protocol a page lists from its results' configs."""
from __future__ import annotations

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


def value_text(value: object) -> str:
    """A config value in a page's prose: numbers as tables write them, anything else as one-line code (results are data)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_text(value) if isinstance(value, float) else str(value)
    text = value if isinstance(value, str) else canonical_json(value)
    return "`" + " ".join(text.split()).replace("`", "'") + "`"


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


def _cell(value) -> str:
    # Result files may come from pull requests: a '|' or a newline must not break the table.
    return " ".join(str(value).split()).replace("|", "\\|")


def table(rows: list[list], headers: Sequence[str]) -> str:
    """A GitHub markdown table; cells are flattened to one line with '|' escaped (results are data)."""
    return tabulate([[_cell(v) for v in row] for row in rows], headers=list(headers), tablefmt="github",
                    disable_numparse=True)
