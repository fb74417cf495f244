"""`fsgs-bot content report`: every curated answer with what a reviewing clinician checks.

Lists each answer (its id) with word count, reading grade, days since `metadata.reviewed` and its
source line, and flags any without a source or not reviewed within a year. Exits 1 when anything
is flagged, so CI can require that every answer has been signed off recently.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot import content


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("content", help="review the curated answers")
    commands = group.add_subparsers(dest="content_command", required=True)
    report = commands.add_parser("report", help="list every answer; exit 1 if any is flagged")
    report.add_argument("--domain", type=Path, default=content.DOMAIN_DIR,
                        help="domain folder to read (default: the project's domain/)")
    report.add_argument("--flagged-only", action="store_true", help="list only flagged answers")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    try:
        rows = content.review_report(content.load_variations(args.domain))
    except (content.ContentError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: no curated answers found in {args.domain}", file=sys.stderr)
        return 2
    shown = [r for r in rows if r.problems] if args.flagged_only else rows
    print(content.format_report(shown))
    return 1 if any(r.problems for r in rows) else 0
