"""The `rot90` command. Bad input gets one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
import time


class UsageError(Exception):
    """Something the user can fix: printed as one line, exit code 2."""


def cmd_check(args) -> int:
    import torch

    from . import __version__
    from .check import report

    start = time.perf_counter()
    rows = report(full=args.full)
    width = max(len(r[0]) for r in rows)
    print(f"rot90 {__version__}, torch {torch.__version__}: maximum absolute differences (fp32)\n")
    print(f"{'what':<{width}}  {'max |diff|':>10}  cases")
    print(f"{'-' * width}  {'-' * 10}  -----")
    failed = 0
    for what, case, diff in rows:
        ok = diff <= args.tol
        failed += not ok
        print(f"{what:<{width}}  {diff:>10.2e}  {case}{'' if ok else '  <-- above tolerance'}")
    print(f"\n{len(rows) - failed}/{len(rows)} within {args.tol:g} (outputs, final states and all gradients); "
          f"{time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rot90", description="An LSTM is a ResNet rotated 90 degrees.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="rot90.LSTM/GRU vs torch and the rotation theorem, as a table")
    c.add_argument("--full", action="store_true", help="every case (3 depths x 2 directions x 2 layouts x h0 x packed)")
    c.add_argument("--tol", type=float, default=1e-5, help="largest difference counted as equal (default 1e-5)")
    c.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with one line on bad arguments
    try:
        return args.func(args)
    except (UsageError, ValueError, FileNotFoundError) as e:
        print(f"rot90 {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rot90 {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
