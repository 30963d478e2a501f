"""Several training processes on one machine with torch DistributedDataParallel: start them, join
them in a process group, split each batch between them, and turn a failed process into one clear
error instead of a hang.

`launch` starts the processes with torch.multiprocessing (PyTorch's own launcher for DDP on one
machine), which ties them to the stage's process: if the stage dies, so do they, and if one of them
dies, the launcher stops the others. Under `torchrun` (one machine or several), the stage is one of
torchrun's processes instead: it joins torchrun's process group from its environment and starts
none of its own. Rank 0 speaks for all of them: it logs, validates and writes.
"""

from __future__ import annotations

import datetime
import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException

from seq2seq.errors import UserError
from seq2seq.runner import setup_logging

# How long a collective waits for a process that is alive but silent (stopped, stuck) before failing.
# Rank 0 validates while the others wait, so this must exceed one validation pass. A process that
# dies is noticed at once (its sockets close, and the launcher sees it exit), not after this.
TIMEOUT = datetime.timedelta(minutes=15)


@dataclass(frozen=True)
class Workers:
    """This process's place among the training processes: its rank among all of them, their number,
    where they meet (a torch.distributed init method: a private file, or env:// under torchrun; None
    alone), and its rank and their number on this machine (which GPU it takes, how it shares the cores)."""

    rank: int = 0
    world_size: int = 1
    store: str | None = None
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_torchrun() -> Workers | None:
    """This process's place among torchrun's processes, from the variables torchrun sets (RANK,
    WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, and MASTER_ADDR/MASTER_PORT for env://); None when the
    stage was not started by torchrun."""
    if not dist.is_torchelastic_launched():
        return None
    env = os.environ
    return Workers(int(env["RANK"]), int(env["WORLD_SIZE"]), "env://", int(env["LOCAL_RANK"]),
                   int(env["LOCAL_WORLD_SIZE"]))


SINGLE = Workers()
GRACE_S = 10.0  # seconds the survivors of a failure get to stop by themselves before SIGTERM
STOPPED = 128 + signal.SIGTERM  # exit code of a process the launcher stopped, as a shell reports it


def launch(fn: Callable[..., None], processes: int, *args: Any) -> None:
    """Run `fn(workers, *args)` in `processes` processes (`fn` must be importable: a module-level
    function); with one process, here and without a process group, exactly as before DDP.

    When one fails, the others are stopped and a UserError names the cause: its own one-paragraph
    message, or the signal that killed it. Bugs keep their traceback (a RuntimeError).
    """
    if processes == 1:
        fn(SINGLE, *args)
        return
    # The launcher logs a line for each process it stops; the error below says it in one paragraph.
    logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="seq2seq-ddp-") as folder:
        # A file in a private folder as the rendezvous: no TCP port to pick, so parallel queue
        # workers on one machine cannot collide.
        context = mp.start_processes(_worker, (processes, folder, fn, args), nprocs=processes,
                                     join=False, start_method="spawn")
        try:
            # After a failure the survivors usually fail on their own at once (their peer's sockets
            # close) and clean up; the grace period keeps SIGTERM from cutting that short.
            while not context.join(grace_period=GRACE_S):
                pass
        except ProcessException as err:
            raise _failure(context, err.error_index, Path(folder)) from None
        finally:
            for process in context.processes:  # e.g. after Ctrl-C: leave no process behind
                if process.is_alive():
                    process.terminate()
                process.join()


def _worker(rank: int, world_size: int, folder: str, fn: Callable[..., None], args: tuple) -> None:
    """One spawned process: log like the stage (rank 0 only, below warnings), run `fn`, leave a
    note for the launcher when it fails (`_failure` reads them) and exit with a code that says how."""
    setup_logging()  # a spawned process starts without the stage's logging set-up
    # The launcher stops the survivors of a failure with SIGTERM: exit through Python, so that
    # context managers remove what they had started to write (temporary files).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(STOPPED))
    if rank:
        logging.getLogger("seq2seq").setLevel(logging.WARNING)
    code = 1
    try:
        fn(Workers(rank, world_size, f"file://{Path(folder) / 'store'}", rank, world_size), *args)
        code = 0
    except UserError as err:
        _note(folder, "error", rank, str(err))
    except dist.DistError as err:
        detail = (str(err).strip().splitlines() or ["no detail"])[0]
        _note(folder, "lost", rank, f"training process {rank} of {world_size} lost contact with the others "
                                    f"({type(err).__name__}: {detail}).")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except Exception:  # a bug: keep its traceback for the launcher to show
        _note(folder, "bug", rank, traceback.format_exc())
    # Leave without the interpreter's shutdown: gloo's threads may still be releasing the tensors
    # of the last collective, and doing that while Python finalises aborts the process.
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(code)


def _note(folder: str, kind: str, rank: int, text: str) -> None:
    """A failed process's message for the launcher, in the launch's private folder."""
    (Path(folder) / f"{kind}-{rank}").write_text(text, encoding="utf-8")


def _signal(code: int | None) -> str | None:
    """The signal behind an exit code: negative when it killed the process, 128 + n when the
    process caught it and exited (SIGTERM, SIGINT)."""
    if code is None or 0 <= code <= 128:
        return None
    number = -code if code < 0 else code - 128
    return signal.Signals(number).name if number in signal.valid_signals() else None


def _failure(context: mp.ProcessContext, first: int, folder: Path) -> Exception:
    """What to report once the launcher has stopped every process, root cause first: a process's
    own message (the paragraph one process would print), a process killed from outside, the
    earliest traceback (a peer's death shows up later in the survivors, as a connection error); a
    process that merely lost contact with the others comes last."""
    n, codes = len(context.processes), [p.exitcode for p in context.processes]
    order = [first] + [r for r in range(n) if r != first]
    for r in order:
        if (folder / f"error-{r}").exists():
            return UserError((folder / f"error-{r}").read_text(encoding="utf-8"))
    # The launcher stops survivors (exit code STOPPED) only once one has failed: any other signal,
    # and SIGTERM to the first to fail, came from outside.
    killed = [r for r in order if _signal(codes[r]) and (r == first or codes[r] != STOPPED)]
    if killed:
        return UserError(f"training process {killed[0]} of {n} was stopped by {_signal(codes[killed[0]])} (out of "
                         "memory, Ctrl-C or kill); the other training processes were stopped too. Rerun the "
                         "stage (dvc repro train), or set train.processes to 1.")
    bugs = sorted(((folder / f"bug-{r}").stat().st_mtime_ns, r) for r in order if (folder / f"bug-{r}").exists())
    if bugs:
        rank = bugs[0][1]
        return RuntimeError(f"training process {rank} of {n} failed:\n{(folder / f'bug-{rank}').read_text()}")
    if (folder / f"lost-{first}").exists():
        return UserError((folder / f"lost-{first}").read_text(encoding="utf-8") + " Another training "
                         "process stopped first, and the rest were stopped. Rerun the stage (dvc repro train).")
    return UserError(f"training process {first} of {n} exited with code {codes[first]}; the other training "
                     "processes were stopped. Rerun the stage (dvc repro train).")


@contextmanager
def process_group(workers: Workers, device: torch.device) -> Iterator[torch.device]:
    """Join the other processes (gloo on CPU; NCCL on CUDA, local rank r on the machine's GPU r) and
    yield the device this process trains on; leave the group on the way out, also when training
    fails, so that no process waits on one that has gone. Alone, yield `device` unchanged."""
    if workers.world_size == 1:
        yield device
        return
    if device.type == "cuda":
        if torch.cuda.device_count() < workers.local_size:
            raise UserError(f"{workers.local_size} training processes share this machine but only "
                            f"{torch.cuda.device_count()} CUDA GPU(s) are visible: NCCL needs one GPU per process. "
                            "Lower train.processes (or torchrun's --nproc_per_node), or set train.device to cpu "
                            "(gloo).")
        device = torch.device("cuda", workers.local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=workers.store,
                            rank=workers.rank, world_size=workers.world_size, timeout=TIMEOUT)
    try:
        yield device
    finally:
        dist.destroy_process_group()


def shard(size: int, workers: Workers) -> tuple[slice, float]:
    """This process's rows of a global batch of `size` rows, as torch.tensor_split cuts them
    (contiguous, the first `size % world_size` processes one row more), and the weight of its
    loss. A process left with no rows (a batch smaller than the number of processes) runs row 0
    with weight 0: every process must join each gradient all-reduce, or the others would wait."""
    base, extra = divmod(size, workers.world_size)
    start = workers.rank * base + min(workers.rank, extra)
    stop = start + base + (workers.rank < extra)
    return (slice(start, stop), 1.0) if stop > start else (slice(0, 1), 0.0)


def all_sum(value: torch.Tensor, workers: Workers) -> float:
    """The sum of a scalar over all processes (the scalar itself alone), as a Python float."""
    if workers.world_size == 1:
        return value.item()
    total = value.detach().reshape(1).to(torch.float64)
    dist.all_reduce(total)
    return total.item()


def from_main(value: Any, workers: Workers) -> Any:
    """Rank 0's `value` on every process (a picklable object; the others pass None)."""
    if workers.world_size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
