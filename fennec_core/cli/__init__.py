"""The ``fennec`` command line: parse (:mod:`.parser`), call the Python API (:mod:`.commands`),
format (:mod:`.format`).

Every user error is one line on stderr and exit code 2 (``--debug`` shows the traceback);
an unexpected internal error exits 1 and asks for ``--debug``. Warnings, from Fennec or a
library, become one-line notes (``fennec: note: ...``, no file path or source line), which
``--quiet`` hides like every note (``--debug`` shows them as Python does). When the reader of stdout goes away (``fennec rank | head -1``)
the command stops quietly with exit code 141, as a command killed by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TextIO

#: Exit code when stdout's reader closed the pipe (128 + SIGPIPE), like ``head`` makes ``cat`` exit.
EXIT_PIPE = 141


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: TextIO | None = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the CLI: ``fennec: note: msg`` on one line, no file path or source line."""
    from fennec_core.cli.format import escape_controls

    text = escape_controls(" ".join(str(message).split()))
    with contextlib.suppress(OSError):  # stderr gone too: nothing to tell
        print(f"fennec: note: {text}", file=file or sys.stderr)


def _stdout_gone() -> int:
    """stdout's reader went away: point stdout at /dev/null so the final flush cannot fail, and stop."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (stdout captured in-process)
        pass
    return EXIT_PIPE


def _line(text: object, limit: int = 400) -> str:
    """What goes to stderr: one line, control characters escaped."""
    from fennec_core.cli.format import escape_controls
    from fennec_core.errors import one_line

    return escape_controls(one_line(text, limit))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fennec`` command; returns the exit code. Text printed on stdout goes
    through :class:`fennec_core.cli.format.EscapingWriter` (no raw control characters)."""
    from fennec_core.cli.format import EscapingWriter
    from fennec_core.cli.parser import build_parser

    args = build_parser().parse_args(argv)
    stdout, sys.stdout = sys.stdout, EscapingWriter(sys.stdout)
    try:
        return _run(args)
    finally:
        if isinstance(sys.stdout, EscapingWriter):
            sys.stdout = stdout


#: The modules of the handlers that do not live in :mod:`fennec_core.cli.commands` (each imported
#: only when its command runs, so ``fennec --help`` and the other commands stay light).
HANDLER_MODULES = {
    "cmd_next": "fennec_core.cli.next_command",
    "cmd_probe": "fennec_core.cli.probe_command",
    "cmd_plugins": "fennec_core.cli.plugins_command",
    "cmd_serve": "fennec_core.cli.serve_command",
    "cmd_zoos": "fennec_core.cli.zoo_commands",
    "cmd_zoo_info": "fennec_core.cli.zoo_commands",
}


def handler(name: str) -> Callable[[argparse.Namespace], int]:
    """The function a subcommand's ``handler`` names (the parser names them; see HANDLER_MODULES)."""
    import importlib

    return getattr(importlib.import_module(HANDLER_MODULES.get(name, "fennec_core.cli.commands")), name)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; every failure becomes one line on stderr and an exit code."""
    from fennec_core.architecture.sources import allow_code
    from fennec_core.cli.parser import EXIT_USER
    from fennec_core.errors import FennecError

    with warnings.catch_warnings():  # restores the warning machinery when main returns
        if args.quiet:
            warnings.simplefilter("ignore")  # notes are hidden by -q, warnings are notes
        elif not args.debug:
            warnings.showwarning = _one_line_warning
        try:
            with allow_code(bool(getattr(args, "allow_code", False))):  # --allow-code: stores may name code too
                code = int(handler(args.handler)(args) or 0)
            sys.stdout.flush()  # a closed pipe shows up here, inside the try, not at exit
            return code
        except BrokenPipeError:
            return _stdout_gone()
        except FennecError as exc:
            if args.debug:
                raise
            print(f"fennec: error: {_line(exc, 2000)}", file=sys.stderr)
            return EXIT_USER
        except KeyboardInterrupt:
            print("fennec: interrupted", file=sys.stderr)
            return 130
        except SystemExit as exc:  # no command exits by itself: a plugin's code did
            if args.debug:
                raise
            print(f"fennec: error: a plugin called sys.exit({exc.code!r}) in the middle of `fennec {args.command}`; "
                  "rerun with --debug to see which, or restrict plugins with FENNEC_PLUGINS", file=sys.stderr)
            return EXIT_USER
        except Exception as exc:  # an internal error: say so, keep it to one line
            if args.debug:
                raise
            print(f"fennec: internal error: {type(exc).__name__}: {_line(exc)} (rerun with --debug and report it)",
                  file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
