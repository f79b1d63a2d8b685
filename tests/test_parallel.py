# Tasks are stdlib or torch functions: with --import-mode=importlib, a function defined in a
# test module cannot be imported by a worker process.
import operator
import os

import pytest
import torch

from molgen.parallel import PARTS_PER_JOB, ProcessPool, resolve_jobs

MISSING = "/nonexistent/model.pt"


def test_resolve_jobs():
    assert resolve_jobs(None) == resolve_jobs(1) == 1
    assert resolve_jobs(3) == 3
    assert resolve_jobs(-1) == (os.cpu_count() or 1)
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_jobs"):
            resolve_jobs(bad)


def test_one_job_runs_here_and_starts_nothing():
    pool = ProcessPool(1, initializer=open, initargs=(MISSING,))  # never run in this process
    assert list(pool.imap(operator.neg, range(5))) == [0, -1, -2, -3, -4]
    assert pool.map(tuple, list(range(10))) == [tuple(range(10))]
    assert list(pool.imap(operator.call, [os.getpid])) == [os.getpid()]
    assert "started=False" in repr(pool)


def test_imap_is_ordered_and_bounded():
    pulled = []

    def items():
        for i in range(40):
            pulled.append(i)
            yield i

    with ProcessPool(2) as pool:
        results = []
        for k, value in enumerate(pool.imap(operator.neg, items(), in_flight=3)):
            assert len(pulled) <= k + 1 + 3  # never more than in_flight items ahead
            results.append(value)
    assert results == [-i for i in range(40)]


def test_workers_are_other_processes_with_one_torch_thread():
    with ProcessPool(2) as pool:
        answers = list(pool.imap(operator.call, [torch.get_num_threads, os.getpid] * 4))
    assert set(answers[0::2]) == {1}
    assert os.getpid() not in answers[1::2]


def test_map_splits_into_contiguous_parts_in_order():
    items = list(range(1000))
    with ProcessPool(2) as pool:
        parts = pool.map(tuple, items)
        assert len(parts) == 2 * PARTS_PER_JOB
        assert sum(parts, ()) == tuple(items)
        assert {len(part) for part in parts} == {125}
        assert pool.map(tuple, items, min_part=600) == [tuple(items)]  # one worker's worth


def test_failing_initializer_raises_its_error_instead_of_hanging():
    pool = ProcessPool(2, initializer=open, initargs=(MISSING,))
    with pytest.raises(FileNotFoundError, match="nonexistent/model.pt"), pool:
        list(pool.imap(operator.neg, range(10)))


def test_leaving_on_an_interruption_terminates_running_tasks_at_once():
    import time

    with pytest.raises(KeyboardInterrupt), ProcessPool(2) as pool:
        assert list(pool.imap(abs, [-1, -2])) == [1, 2]  # both workers started
        pool._submit(time.sleep, 60)
        pool._submit(time.sleep, 60)
        time.sleep(0.5)
        started = time.monotonic()
        raise KeyboardInterrupt  # what Ctrl-C or SIGTERM raises in the caller
    assert time.monotonic() - started < 5.0  # not the 60 s the tasks would still run


def test_cancelling_while_workers_send_results_does_not_hang():
    import itertools
    import threading

    # a worker terminated halfway through sending a result leaves half a message in the result
    # pipe; results of 64 MiB keep the workers sending most of the time
    pool = ProcessPool(2)
    results = pool.imap(bytes, itertools.repeat(64 << 20))
    assert len(next(results)) == 64 << 20
    closing = threading.Thread(target=pool.close, kwargs={"cancel": True}, daemon=True)
    closing.start()
    closing.join(timeout=30)
    assert not closing.is_alive()


def test_an_interruption_while_a_worker_starts_is_raised_once_the_start_is_done(monkeypatch):
    import signal

    import molgen.parallel as parallel

    started = []
    submit = parallel.ProcessPoolExecutor.submit

    def submit_interrupted(self, *args):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of a worker's start
        started.append(True)  # still reached: the start goes on whole
        return submit(self, *args)

    monkeypatch.setattr(parallel.ProcessPoolExecutor, "submit", submit_interrupted)
    # Ctrl-C's own handler, whatever an earlier test in this process left installed
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), ProcessPool(2) as pool:
            pool._submit(abs, -1)
        assert started == [True]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, handler)
