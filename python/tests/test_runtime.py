"""Training releases the GIL, stops on Ctrl-C (KeyboardInterrupt), and
draws no bar when stderr is not a terminal."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import fadca
from conftest import EXAMPLE, SMALL


def test_a_second_thread_runs_while_a_model_trains():
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        ticks.clear()
        start = time.perf_counter()
        fadca.predict(EXAMPLE, threads=2, epochs=30, progress=False)
        seconds = time.perf_counter() - start
    finally:
        done.set()
        ticker.join()
    during = [t for t in ticks if start <= t <= start + seconds]
    assert seconds > 0.3
    # Were the GIL held, the ticker would stall for the whole of training.
    assert len(during) > 50, (len(during), seconds)
    assert max(b - a for a, b in zip(during, during[1:])) < seconds / 2


SCRIPT = textwrap.dedent(
    """
    import sys, time, fadca
    try:
        print("training", flush=True)
        fadca.predict(sys.argv[1], threads=1, epochs=10000, progress=False)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    p = fadca.predict(sys.argv[2], threads=1, epochs=1, progress=True)
    print("again", p.length, flush=True)
    """
)


def _default_sigint():
    # A job started in the background by a shell without job control
    # (`cmd &`) inherits SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: the child gets the default disposition, as
    # in a terminal, so that the test checks fadca and not how it was run.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_training(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(EXAMPLE), str(SMALL)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=_default_sigint,
    )
    try:
        assert child.stdout.readline().strip() == "training"
        time.sleep(1.5)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert time.perf_counter() - sent < 10
    assert out.split("\n")[:2] == ["interrupted", "again 30"], (out, err)
    assert child.returncode == 0
    # stderr is a pipe: no progress bar, and nothing written in the folder.
    assert err == ""
    assert list(tmp_path.iterdir()) == []


def in_a_terminal(code):
    """Runs Python `code` in a pseudo-terminal of 100 columns; its output."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-c", code])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert status == 0, out
    return out.decode()


def test_a_bar_in_a_terminal_only_when_asked():
    code = f"import fadca; fadca.predict({str(SMALL)!r}, threads=1, epochs=20, progress=%s)"
    shown = in_a_terminal(code % "True")
    assert "training" in shown and "/20 " in shown, shown
    assert in_a_terminal(code % "False") == ""
