"""The process runner of every entry point: logging to stderr, and UserError, Ctrl-C and SIGTERM
turned into a one-paragraph message and an exit code."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable

from seq2seq.errors import Terminated, UserError


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def interactive() -> bool:
    """Whether stderr is a terminal: progress bars only then; a log file, `dvc queue logs` or CI get
    one line per epoch (or per download) instead of every update glued by carriage returns."""
    return sys.stderr.isatty()


def setup_logging() -> None:
    """Log to stderr as `seq2seq.stage: message`; timestamps stay out of outputs."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr, force=True)


def run_main(main: Callable[[], None], debug: bool | None = None) -> None:
    """Entry-point wrapper: turn UserError, Ctrl-C and SIGTERM into a short message and a non-zero exit.

    With `debug` (default: the SEQ2SEQ_DEBUG environment variable is set and not 0) the exception
    propagates with its traceback.
    """
    if debug is None:
        debug = os.environ.get("SEQ2SEQ_DEBUG", "0") not in ("", "0")
    setup_logging()
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        main()
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:
        # The reader went away (`seq2seq translate ... | head -1`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
    except KeyboardInterrupt as err:
        if debug:
            raise
        terminated = isinstance(err, Terminated)
        print(f"error: {'terminated' if terminated else 'interrupted'}; no output was written (outputs are "
              "replaced only when complete).", file=sys.stderr)
        # As a shell reports a process the signal stopped: 143 for SIGTERM, 130 for SIGINT.
        sys.exit(128 + (signal.SIGTERM if terminated else signal.SIGINT))
