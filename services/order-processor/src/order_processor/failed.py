"""Orders whose task failed for good, the latest first: `python -m order_processor.failed`.

Each line: order id, attempts, when it was parked, and the last error. Such an order is not
retried by itself (reconciliation skips it): fix the cause, then queue it again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.orm import sessionmaker

from order_processor.config import get_settings
from order_processor.db.models import OrderRun
from order_processor.db.session import make_sync_engine, transaction

HEADER = ("order_id", "attempts", "updated_at", "last_error")


def lines(runs: Sequence[OrderRun]) -> list[str]:
    """A table: the columns padded, the last error last and whole."""
    rows = [HEADER] + [
        (
            str(run.order_id),
            str(run.attempts),
            run.updated_at.isoformat(timespec="seconds"),
            (run.last_error or "").replace("\n", " "),
        )
        for run in runs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    return [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]
        )
        for row in rows
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m order_processor.failed", description=__doc__)
    parser.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    args = parser.parse_args(argv)
    engine = make_sync_engine(get_settings(), pool_size=1, max_overflow=0)
    try:
        with transaction(sessionmaker(engine)) as repository:
            runs = repository.failed_runs(args.limit)
            output = lines(runs)
    finally:
        engine.dispose()
    sys.stdout.write("\n".join(output) + "\n")
    if not runs:
        sys.stdout.write("no failed orders\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
