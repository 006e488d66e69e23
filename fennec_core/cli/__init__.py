"""The ``fennec`` command line: parse (:mod:`.parser`), call the Python API (:mod:`.commands`),
format (:mod:`.format`).

Every user error is one line on stderr and exit code 2 (``--debug`` shows the traceback);
an unexpected internal error exits 1 and asks for ``--debug``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fennec`` command; returns the exit code."""
    from fennec_core.cli import commands
    from fennec_core.cli.parser import EXIT_USER, build_parser
    from fennec_core.errors import FennecError

    args = build_parser().parse_args(argv)
    try:
        return int(getattr(commands, args.handler)(args) or 0)
    except FennecError as exc:
        if args.debug:
            raise
        print(f"fennec: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("fennec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: say so, keep it to one line
        if args.debug:
            raise
        print(f"fennec: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
