"""Start uvicorn on an open socket with the app for a loaded model, and say where it listens."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
from typing import Any

import uvicorn

from seq2seq.checkpoint import LoadedModel
from seq2seq.serve.app import Limits, create_app

log = logging.getLogger("seq2seq.serve")


def run_server(loaded: LoadedModel, sock: socket.socket, args: argparse.Namespace, info: dict[str, Any],
               precision: str) -> None:
    """Serve on `sock` (bound by the caller, so a taken port is reported before the model loads and
    `--port 0` can name the port it got) until Ctrl-C or SIGTERM, which uvicorn handles gracefully."""
    limits = Limits(args.max_lines, args.max_chars, args.max_beam, args.max_output_length, args.length_penalty,
                    args.max_queue, args.max_wait, args.arrival_gap, args.batch_size, args.timeout)
    app = create_app(loaded, limits, info, precision)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    log.info("serving %s on http://%s:%d (the page at /, the API's docs at /docs); Ctrl-C stops",
             ", ".join(info["models"]), shown, port)
    # Our own line per request (the app's middleware) instead of uvicorn's access log.
    config = uvicorn.Config(app, log_level="warning", access_log=False, log_config=None)
    # uvicorn stops gracefully on Ctrl-C and SIGTERM, then hands the signal on to the handler it
    # found: let that one be a no-op, not the CLI's "terminated; no output was written".
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda *_: None) for s in stops}
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    log.info("stopped")
