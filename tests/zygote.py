"""A fork server for the corpus (tests/commands/test_corpus.py): nnctl started once, forked per case.

Nearly all of a corpus case's time is a new interpreter starting and importing numpy,
pandas, pydantic (nnctl.config builds its models at import), rich and click. Run as
``python tests/zygote.py`` (``Zygote`` does), this file imports all of that once, then
forks a child per job. The child is a real process like the one ``subprocess`` would
start: a session of its own (a hung case is killed whole), the job's pipes or files on
descriptors 0, 1 and 2 and no other descriptor, the job's working directory, and stdio
objects, ``sys.argv``, ``sys.path[0]`` and ``__main__`` made as a new interpreter makes
them; it runs ``python -m nnctl`` the way the interpreter does (``runpy``), then ends the
way the interpreter ends (threads, atexit, the flush of stdout and stderr, exit 120 if that
fails) and always by ``os._exit``: no child ever returns into this loop.

What a new interpreter decides at start-up from its environment, the zygote has decided
from its own: the encoding of stdio, rich's width (COLUMNS) and colour, NNCTL_PIPE_WAIT...
So a job runs only in exactly the zygote's environment (it refuses any other), and
``corpus.forkable`` keeps everything else in a real ``subprocess``.

The protocol: the zygote's stdin is one end of a SOCK_SEQPACKET socket pair. It says
``ready`` once it has imported everything; each job is then one message, a JSON object
(args, cwd, env, fault, stdin) with four descriptors (the child's stdin, stdout, stderr,
and a socket for the reply), and the reply socket gets the child's pid, then its exit code
(as ``subprocess`` gives it: -9 for SIGKILL). The zygote is single-threaded (nothing else
runs while it forks) and exits when its stdin closes, so a pytest that crashed takes it
along; the children it still has are killed then.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

READY = b"ready"


def apply_fault(fault: str | None, stdin: object) -> None:
    """In the new process, before nnctl starts (``corpus._preexec`` and the zygote's child
    both call this, so the two paths set a case up alike)."""
    import resource

    os.setsid()  # a group of its own: a hung case is killed whole
    if stdin == "closed":
        os.close(0)
    if fault == "stdout closed":
        os.close(1)
    elif fault == "file size 64 KiB":  # a full disk, for the files this run writes
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))


# -- the client (in pytest) ---------------------------------------------------------------------


class Zygote:
    """``python tests/zygote.py`` started with ``env`` (the environment of every job it
    will run) in ``cwd``; ``run`` a job, ``close`` at the end (or use ``with``)."""

    def __init__(self, env: dict[str, str], cwd) -> None:
        self.env = dict(env)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log = tempfile.TemporaryFile()  # its stderr: a file, never a terminal
        try:
            self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)], stdin=theirs,
                                         stdout=subprocess.DEVNULL, stderr=self.log, env=self.env,
                                         cwd=cwd)
        finally:
            theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        self._ready = False

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def wait_ready(self, timeout: float = 120) -> None:
        """Until the zygote has imported everything (it starts while the caller works)."""
        with self.lock:
            if self._ready:
                return
            self.sock.settimeout(timeout)
            try:
                said = self.sock.recv(1 << 16)
            finally:
                self.sock.settimeout(None)
            if said != READY:
                raise RuntimeError(f"the zygote did not start: {said!r}\n{self.stderr()}")
            self._ready = True

    def run(self, args: list[str], cwd, env: dict[str, str], *, stdin: bytes | None = None,
            stdin_file=None, fault: str | None = None,
            timeout: float = 180) -> tuple[int, bytes, bytes]:
        """``python -m nnctl *args`` forked in ``cwd``: (exit code, stdout, stderr). stdin is
        ``stdin`` through a pipe, else the open file ``stdin_file``, else /dev/null; after
        ``timeout`` seconds the child's group is killed, as ``corpus.run`` does."""
        if env != self.env:
            raise ValueError("a job runs only in the zygote's own environment")
        self.wait_ready()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        to_child = None
        if stdin_file is not None:
            in_child = os.dup(stdin_file.fileno())
        elif stdin is not None:
            in_child, to_child = os.pipe()
        else:
            in_child = os.open(os.devnull, os.O_RDWR)  # as subprocess.DEVNULL opens it
        reply, reply_theirs = socket.socketpair()
        job = json.dumps({"args": list(args), "cwd": os.fspath(cwd), "env": env, "fault": fault,
                          "stdin": "pipe" if stdin is not None else None}).encode()
        ours = [out_r, err_r] + ([to_child] if to_child is not None else [])
        try:
            with self.lock:
                socket.send_fds(self.sock, [job], [in_child, out_w, err_w, reply_theirs.fileno()])
        except BaseException:
            for fd in ours:
                os.close(fd)
            reply.close()
            raise
        finally:  # the child's ends are the zygote's now (or nobody's)
            for fd in (in_child, out_w, err_w):
                os.close(fd)
            reply_theirs.close()
        with reply, reply.makefile("rb") as answers:
            pid = answers.readline()
            if not pid:
                for fd in ours:
                    os.close(fd)
                self._died()
            out, err = _communicate(int(pid), to_child, stdin or b"", out_r, err_r, timeout)
            code = answers.readline() or self._died()
        return int(code), out, err

    def _died(self):
        raise RuntimeError(f"the zygote ended during a job\n{self.stderr()}")

    def close(self) -> int:
        """Close its stdin (it ends, killing any child left) and wait: its exit code."""
        self.sock.close()
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log.close()
        return code


def _communicate(pid: int, to_child, data: bytes, out_r: int, err_r: int,
                 timeout: float) -> tuple[bytes, bytes]:
    """``Popen.communicate`` for a child this process did not start: write ``data`` to it,
    read its stdout and stderr to their ends; at ``timeout``, SIGKILL its group and read on."""
    import selectors

    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    deadline: float | None = time.monotonic() + timeout
    timed_out = False
    sent = 0
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        if to_child is not None and data:
            sel.register(to_child, selectors.EVENT_WRITE)
        elif to_child is not None:
            os.close(to_child)
        try:
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    _kill_group(pid)
                    timed_out, deadline = True, None
                    continue
                for key, _ in sel.select(left):
                    if key.fd in chunks:
                        piece = os.read(key.fd, 65536)
                        chunks[key.fd].append(piece)
                        if not piece:
                            sel.unregister(key.fd)
                            os.close(key.fd)
                        continue
                    try:  # at most PIPE_BUF, which a writable pipe takes without blocking
                        sent += os.write(to_child, data[sent:sent + select.PIPE_BUF])
                    except BrokenPipeError:
                        sent = len(data)
                    if sent >= len(data):
                        sel.unregister(to_child)
                        os.close(to_child)
        finally:
            for fd in list(sel.get_map()):  # only after an exception
                sel.unregister(fd)
                os.close(fd)
    err = b"".join(chunks[err_r]) + (b"\n(timed out: killed)" if timed_out else b"")
    return b"".join(chunks[out_r]), err


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- the server (python tests/zygote.py) ------------------------------------------------------


def _preload() -> None:
    """Everything a corpus case's interpreter imports, and nothing runs: no command, no
    rich console prints, so every cache and nnctl's display state are as a new start has them."""
    import importlib
    import pkgutil

    import nnctl.cli
    import nnctl.commands

    for info in pkgutil.iter_modules(nnctl.commands.__path__):
        importlib.import_module(f"nnctl.commands.{info.name}")
    import click  # noqa: F401  (the commands import these already; named for the reader)
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pydantic  # noqa: F401
    import rich  # noqa: F401
    import yaml  # noqa: F401


def serve() -> None:
    templates = (sys.stdin, sys.stdout, sys.stderr)  # made by this interpreter's start-up
    env = dict(os.environ)
    ctl = socket.socket(fileno=0)
    if os.isatty(1) or os.isatty(2):
        # rich's consoles (nnctl.render) decide at import whether they write to a terminal
        ctl.send(b"refused: stdout or stderr is a terminal; a job's never is")
        return
    _preload()
    if dict(os.environ) != env:
        ctl.send(b"refused: importing nnctl changed os.environ")
        return
    # What the imports made lives as long as the zygote: no child's collection walks it (nor
    # so copies its pages). The children's own garbage is collected as in a new interpreter.
    gc.freeze()
    ctl.send(READY)
    poller = select.poll()
    poller.register(0, select.POLLIN)
    running: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, reply descriptor)
    try:
        while True:
            for fd, _ in poller.poll():
                if fd != 0:
                    pid, reply = running.pop(fd)
                    poller.unregister(fd)
                    os.close(fd)
                    _, status = os.waitpid(pid, 0)
                    _answer(reply, os.waitstatus_to_exitcode(status))
                    os.close(reply)
                    continue
                message, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 4)
                if not message:
                    return  # the client closed our stdin (or died)
                job = json.loads(message)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(ctl, job, fds, templates)  # never returns
                for child_fd in fds[:3]:
                    os.close(child_fd)
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (pid, fds[3])
                poller.register(pidfd, select.POLLIN)
                _answer(fds[3], pid)
    finally:
        for pid, reply in running.values():
            _kill_group(pid)
            os.kill(pid, signal.SIGKILL)  # in case it had not made its group yet
            os.waitpid(pid, 0)


def _answer(fd: int, number: int) -> None:
    try:
        os.write(fd, b"%d\n" % number)
    except OSError:  # the client gave up on this job
        pass


def _child(ctl: socket.socket, job: dict, fds: list[int], templates) -> None:
    """The forked child: set up as subprocess would (descriptors, cwd, the fault, no other
    descriptor), run nnctl, end. Always ``os._exit``, whatever happens."""
    code = 70  # EX_SOFTWARE: the set-up itself failed (its traceback is on the case's stderr)
    try:
        ctl.detach()  # descriptor 0 becomes the job's stdin; the object must not close it
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.chdir(job["cwd"])
        if job["env"] != dict(os.environ):
            raise RuntimeError("a job in another environment than the zygote's")
        apply_fault(job["fault"], job["stdin"])
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        code = _nnctl(job["args"], templates)
    except BaseException:
        try:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(code)


def _stdio(fd: int, name: str, template):
    """``sys.stdin``, ``sys.stdout`` or ``sys.stderr`` as the interpreter's start-up makes it
    (Python/pylifecycle.c, create_stdio): None for a closed descriptor; the encoding and
    errors of this interpreter's own (the same environment chose them); line-buffered on a
    terminal and for stderr; unbuffered writes under -u / PYTHONUNBUFFERED."""
    import io

    try:
        os.fstat(fd)
    except OSError:
        return None
    write = fd != 0
    buffered = not template.write_through
    buf = io.open(fd, "wb" if write else "rb", buffering=-1 if buffered or not write else 0,
                  closefd=False)
    raw = buf.raw if isinstance(buf, io.BufferedIOBase) else buf
    raw.name = name
    stream = io.TextIOWrapper(buf, encoding=template.encoding, errors=template.errors,
                              newline="\n", line_buffering=buffered and (os.isatty(fd) or fd == 2),
                              write_through=not buffered)
    stream.mode = "w" if write else "r"
    return stream


def _nnctl(args: list[str], templates) -> int:
    """``python -m nnctl *args`` in this process, from the start of ``runpy`` to the exit
    code the interpreter would give."""
    import builtins
    import runpy
    import types

    streams = [_stdio(fd, f"<{name}>", t)
               for fd, name, t in zip((0, 1, 2), ("stdin", "stdout", "stderr"), templates)]
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams
    sys.argv = ["-m", *args]  # runpy puts nnctl/__main__.py in argv[0]
    sys.orig_argv[:] = [sys.executable, "-m", "nnctl", *args]
    sys.path[0] = os.getcwd()  # -m puts the working directory first
    main = types.ModuleType("__main__")
    main.__builtins__, main.__annotations__ = builtins, {}
    sys.modules["__main__"] = main
    interrupted = False
    try:
        runpy._run_module_as_main("nnctl")
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException as e:
        sys.excepthook(type(e), e, e.__traceback__)
        code, interrupted = 1, isinstance(e, KeyboardInterrupt)
    code = _finalize(code)
    if interrupted:  # as the interpreter does: die of SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def _exit_code(e: SystemExit) -> int:
    """The exit status of an uncaught SystemExit (Python/pythonrun.c, _Py_HandleSystemExit)."""
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    if sys.stderr is not None:
        try:
            sys.stderr.write(f"{code}\n")
        except Exception:
            pass
    return 1


def _finalize(code: int) -> int:
    """The end of Py_FinalizeEx that shows: threads joined, atexit run, garbage collected,
    sys.stdout and sys.stderr flushed; 120 if a flush failed."""
    import atexit

    threading._shutdown()
    atexit._run_exitfuncs()
    ok = _flush_std_files()
    gc.collect()
    ok = _flush_std_files() and ok
    return code if ok else 120


def _flush_std_files() -> bool:
    ok = True
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, "closed", False):
            continue
        try:
            stream.flush()
        except Exception as e:
            ok = False
            if stream is sys.stdout and sys.stderr is not None:  # PyErr_WriteUnraisable
                import traceback

                try:
                    sys.stderr.write(f"Exception ignored in: {stream!r}\n")
                    traceback.print_exception(e, file=sys.stderr)
                except Exception:
                    pass
    return ok


if __name__ == "__main__":
    sys.path[0] = os.getcwd()  # as -m has it, not tests/ (whose modules are not nnctl's)
    serve()
