"""The exceptions the user sees as one paragraph, without a traceback (`seq2seq.runner` prints them)."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad params, bad data, no network): reported without a traceback."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler, a queue worker stopped), raised so that cleanup runs as on Ctrl-C."""
