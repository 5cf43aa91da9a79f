#!/usr/bin/env python
"""Regenerate (or check) the README's *Results* table from a published leaderboard root.

    python scripts/readme_results.py [--root leaderboards/standard] [--check]

Without --check it rewrites the table between the README's markers; with --check it exits 1, saying so, when the
README differs from what the root gives. Run it after republishing a root (`lvrbench leaderboard build`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lvrbench.base.errors import UsageError
from lvrbench.report.readme import current_block, replace_block, results_table
from lvrbench.run.registry import load_registry

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="leaderboards/standard", help="the published root, relative to the repository")
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's table differs")
    args = parser.parse_args(argv)
    readme = REPO / "README.md"
    try:
        block = results_table(load_registry(), REPO / args.root, link=args.root)
        text = readme.read_text(encoding="utf-8")
        if args.check:
            if current_block(text) != block:
                print(f"README.md: its Results table differs from what {args.root} gives "
                      "(run scripts/readme_results.py)", file=sys.stderr)
                return 1
            return 0
        readme.write_text(replace_block(text, block), encoding="utf-8")
    except (UsageError, ValueError, OSError) as exc:
        print(f"readme_results: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
