"""Ctrl-C cancels a running query, and the GIL is free while one runs."""

import _thread
import contextlib
import signal
import threading

import pytest

LONG = "SELECT sum(value) AS s FROM generate_series(1, 100000000000)"


@contextlib.contextmanager
def ctrl_c_after(seconds):
    """Presses Ctrl-C (as a signal to the main thread) after `seconds`.

    Python's own handler is installed for the while: a process started in the background
    by a non-interactive shell inherits SIGINT ignored, and `interrupt_main` then does
    nothing, so the query would run to its end.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_cancels_a_running_query(session):
    with ctrl_c_after(0.5), pytest.raises(KeyboardInterrupt):
        session.sql(LONG).to_pyarrow()
    # The session goes on.
    assert session.sql("SELECT 1 AS one").to_pyarrow().to_pylist() == [{"one": 1}]


def test_other_threads_run_while_a_query_runs(session):
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.01)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        with ctrl_c_after(1.0), pytest.raises(KeyboardInterrupt):
            session.sql(LONG).to_pyarrow()
    finally:
        stop.set()
        thread.join()
    # With the GIL held for the whole query, the thread could not have ticked meanwhile.
    assert len(ticks) > 10
