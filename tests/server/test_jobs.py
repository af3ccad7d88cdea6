"""Background jobs: states, FIFO order, progress, cancellation, failures, owners, follow, and restarts.

The work functions here are stand-ins (`..._plumbing` tests): they exercise the store and runner only.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from talker.errors import InputError
from talker.server.jobs import (
    STOPPED_TWICE,
    JobCancelled,
    JobRunner,
    JobStateError,
    JobStatus,
    JobStore,
    Progress,
)

TIMEOUT = 10.0


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        time.sleep(0.01)


def ended(store: JobStore, owner: str, job_id: str) -> JobStatus:
    """The job once it has ended."""
    result: list[JobStatus] = []

    def done() -> bool:
        status = store.get(owner, job_id)
        if status is not None and status.terminal:
            result.append(status)
            return True
        return False

    wait_for(done)
    return result[0]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    jobs = JobStore(tmp_path / "jobs.sqlite")
    yield jobs
    jobs.close()


@pytest.fixture
def runners() -> Iterator[list[JobRunner]]:
    """Runners a test starts; stopped at the end, interrupting whatever still runs."""
    started: list[JobRunner] = []
    yield started
    for runner in started:
        runner.stop(wait=False)


def start(runners: list[JobRunner], store: JobStore, work: Callable[[JobStatus, Progress], str],
          workers: int = 1) -> JobRunner:
    runner = JobRunner(store, work, workers=workers)
    runners.append(runner)
    runner.start()
    return runner


def test_create_get_list(store: JobStore) -> None:
    first = store.create("alice", "video", {"text": "你好", "options": {"fps": 25}})
    second = store.create("alice", "video", {"text": "two"})
    assert first.id.startswith("job_") and len(first.id) == 4 + 16 and first.id != second.id
    assert (first.state, first.percent, first.attempts, first.error, first.output) == ("queued", 0.0, 0, None, None)
    assert first.started is None and first.finished is None and first.created > 0
    assert store.get("alice", first.id) == first
    assert store.get("alice", first.id).params == {"text": "你好", "options": {"fps": 25}}  # type: ignore[union-attr]
    assert [job.id for job in store.list("alice")] == [second.id, first.id]
    assert [job.id for job in store.list("alice", limit=1)] == [second.id]
    assert store.list("alice", state="running") == []
    with pytest.raises(InputError, match="unknown job state"):
        store.list("alice", state="done")
    with pytest.raises(InputError, match="cannot be stored"):
        store.create("alice", "video", {"bad": object()})
    with pytest.raises(InputError, match="owner"):
        store.create("", "video", {})


def test_jobs_persist_across_store_instances(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    first = JobStore(path)
    job = first.create("alice", "video", {"n": 1})
    first.close()
    second = JobStore(path)
    assert second.get("alice", job.id) == job
    second.close()


def test_fifo_order_and_states_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    gate = threading.Event()
    order: list[int] = []

    def work(job: JobStatus, progress: Progress) -> str:
        gate.wait(TIMEOUT)
        order.append(job.params["n"])
        progress("working", 1, 1)
        return f"out-{job.params['n']}.mp4"

    runner = start(runners, store, work)
    jobs = [store.create("alice", "test", {"n": n}) for n in range(5)]
    for job in jobs:
        runner.submit(job)
    wait_for(lambda: store.get("alice", jobs[0].id).state == "running")  # type: ignore[union-attr]
    assert [store.get("alice", job.id).state for job in jobs[1:]] == ["queued"] * 4  # type: ignore[union-attr]
    gate.set()
    finals = [ended(store, "alice", job.id) for job in jobs]
    assert order == [0, 1, 2, 3, 4]
    for n, final in enumerate(finals):
        assert (final.state, final.stage, final.percent, final.output, final.attempts, final.error) == (
            "succeeded", "done", 100.0, f"out-{n}.mp4", 1, None)
        assert final.started is not None and final.finished is not None
        assert final.created <= final.started <= final.finished
    assert store.unfinished() == []


def test_two_workers_run_jobs_concurrently_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    def work(job: JobStatus, progress: Progress) -> str:
        barrier.wait()  # only passes when both jobs run at once
        return "out.mp4"

    runner = start(runners, store, work, workers=2)
    jobs = [store.create("alice", "test", {}) for _ in range(2)]
    for job in jobs:
        runner.submit(job)
    assert [ended(store, "alice", job.id).state for job in jobs] == ["succeeded", "succeeded"]


def test_progress_throttling_still_records_stage_changes(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite", progress_interval=3600.0)
    job = store.create("alice", "test", {})
    assert store.mark_running(job.id) is not None
    store.set_progress(job.id, "speech", 10)
    for percent in range(11, 40):
        store.set_progress(job.id, "speech", percent)
    status = store.get("alice", job.id)
    assert status is not None and (status.stage, status.percent) == ("speech", 10.0)  # throttled
    store.set_progress(job.id, "render", 40)
    status = store.get("alice", job.id)
    assert status is not None and (status.stage, status.percent) == ("render", 40.0)  # a new stage: at once
    store.set_progress(job.id, "render", 61.5)  # throttled, but kept for the job's end
    failed = store.mark_failed(job.id, "the avatar has no face")
    assert failed is not None and (failed.state, failed.stage, failed.percent) == ("failed", "render", 61.5)
    assert store.set_progress(job.id, "late", 99) is False
    assert store.get("alice", job.id).stage == "render"  # type: ignore[union-attr]
    store.close()


def test_progress_is_written_again_after_the_interval(store: JobStore) -> None:
    job = store.create("alice", "test", {})
    store.mark_running(job.id)
    store.set_progress(job.id, "render", 10)
    store.set_progress(job.id, "render", 20)
    time.sleep(0.3)
    store.set_progress(job.id, "render", 30)
    assert store.get("alice", job.id).percent == 30.0  # type: ignore[union-attr]


def test_progress_throttling_final_stage_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    reported = threading.Event()
    release = threading.Event()

    def work(job: JobStatus, progress: Progress) -> str:
        for done in range(2000):
            progress("render", done, 2000)
        progress("encode", 1999, 2000)
        reported.set()
        release.wait(TIMEOUT)
        return "out.mp4"

    runner = start(runners, store, work)
    job = store.create("alice", "test", {})
    runner.submit(job)
    assert reported.wait(TIMEOUT)
    status = store.get("alice", job.id)
    assert status is not None and (status.state, status.stage, status.percent) == ("running", "encode", 99.95)
    release.set()
    assert ended(store, "alice", job.id).state == "succeeded"


def test_cancel_queued_job_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    gate = threading.Event()
    ran: list[str] = []

    def work(job: JobStatus, progress: Progress) -> str:
        ran.append(job.id)
        gate.wait(TIMEOUT)
        return "out.mp4"

    runner = start(runners, store, work)
    first, second = store.create("alice", "test", {}), store.create("alice", "test", {})
    runner.submit(first)
    runner.submit(second)
    wait_for(lambda: ran == [first.id])
    cancelled = store.request_cancel("alice", second.id)
    assert cancelled is not None and cancelled.state == "cancelled" and cancelled.finished is not None
    gate.set()
    assert ended(store, "alice", first.id).state == "succeeded"
    runner.stop(wait=True, timeout=TIMEOUT)
    assert ran == [first.id]
    assert store.get("alice", second.id).state == "cancelled"  # type: ignore[union-attr]


def test_cancel_running_job_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    steps: list[int] = []
    cleaned = threading.Event()

    def work(job: JobStatus, progress: Progress) -> str:
        try:
            for step in range(100_000):
                steps.append(step)
                progress("render", step, 100_000)
                time.sleep(0.002)
        except JobCancelled:
            cleaned.set()
            raise
        return "out.mp4"

    runner = start(runners, store, work)
    job = store.create("alice", "test", {})
    runner.submit(job)
    wait_for(lambda: len(steps) > 5)
    requested = store.request_cancel("alice", job.id)
    assert requested is not None and requested.state == "running" and requested.cancel_requested
    final = ended(store, "alice", job.id)
    assert final.state == "cancelled" and final.error is None and final.output is None
    assert cleaned.is_set()
    count = len(steps)
    time.sleep(0.05)
    assert len(steps) == count < 100_000
    assert store.request_cancel("alice", job.id) == final  # an ended job does not change


def test_cancel_requested_through_another_connection_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    def work(job: JobStatus, progress: Progress) -> str:
        for step in range(100_000):
            progress("render", step, 100_000)
            time.sleep(0.002)
        return "out.mp4"

    runner = start(runners, store, work)
    job = store.create("alice", "test", {})
    runner.submit(job)
    wait_for(lambda: store.get("alice", job.id).state == "running")  # type: ignore[union-attr]
    other = JobStore(store.path)
    other.request_cancel("alice", job.id)
    other.close()
    assert ended(store, "alice", job.id).state == "cancelled"


def test_talker_error_message_is_kept_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    def work(job: JobStatus, progress: Progress) -> str:
        progress("portrait", 1, 10)
        raise InputError("no face found in avatar.jpg; use a photo with one face, looking at the camera")

    runner = start(runners, store, work)
    job = store.create("alice", "test", {})
    runner.submit(job)
    final = ended(store, "alice", job.id)
    assert final.state == "failed" and final.stage == "portrait" and final.output is None
    assert final.error == "no face found in avatar.jpg; use a photo with one face, looking at the camera"


def test_other_exception_gives_generic_message_plumbing(store: JobStore, runners: list[JobRunner],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    def work(job: JobStatus, progress: Progress) -> str:
        progress("render", 3, 10)
        raise RuntimeError("secret detail /srv/internal/path")

    runner = start(runners, store, work)
    job = store.create("alice", "test", {})
    with caplog.at_level(logging.ERROR, logger="talker.server.jobs"):
        runner.submit(job)
        final = ended(store, "alice", job.id)
        wait_for(lambda: any(record.exc_info for record in caplog.records))
    assert final.state == "failed"
    assert final.error == "internal error while render; the server log has details"
    assert "secret" not in final.error and "Traceback" not in final.error
    assert "secret detail" in caplog.text and "Traceback" in caplog.text


def test_bad_output_name_fails_plumbing(store: JobStore, runners: list[JobRunner],
                                        caplog: pytest.LogCaptureFixture) -> None:
    def work(job: JobStatus, progress: Progress) -> str:
        return "../../etc/passwd"

    runner = start(runners, store, work)
    job = store.create("alice", "test", {})
    with caplog.at_level(logging.CRITICAL, logger="talker.server.jobs"):
        runner.submit(job)
        final = ended(store, "alice", job.id)
    assert final.state == "failed" and final.output is None
    assert final.error == "internal error while starting; the server log has details"


def test_owner_isolation(store: JobStore) -> None:
    job = store.create("alice", "test", {})
    assert store.get("bob", job.id) is None
    assert store.list("bob") == []
    assert store.request_cancel("bob", job.id) is None
    assert store.delete("bob", job.id) is None
    assert store.get("alice", job.id) == job  # untouched
    store.request_cancel("alice", job.id)
    assert store.delete("bob", job.id) is None
    assert store.get("alice", job.id).state == "cancelled"  # type: ignore[union-attr]
    assert store.get("alice", "job_0000000000000000") is None


def test_delete_only_ended_jobs(store: JobStore) -> None:
    queued = store.create("alice", "test", {})
    with pytest.raises(JobStateError, match="still queued; cancel it"):
        store.delete("alice", queued.id)
    running = store.create("alice", "test", {})
    store.mark_running(running.id)
    with pytest.raises(JobStateError, match="still running"):
        store.delete("alice", running.id)
    done = store.mark_succeeded(running.id, "out.mp4")
    deleted = store.delete("alice", running.id)
    assert deleted == done and deleted is not None and deleted.output == "out.mp4"
    assert store.get("alice", running.id) is None
    assert store.delete("alice", running.id) is None


def test_ended_jobs_never_change(store: JobStore) -> None:
    job = store.create("alice", "test", {})
    store.mark_running(job.id)
    done = store.mark_succeeded(job.id, "out.mp4")
    assert store.mark_failed(job.id, "late") == done
    assert store.mark_cancelled(job.id) == done
    assert store.mark_running(job.id) is None
    assert store.requeue(job.id) == done


async def test_follow_yields_progress_until_the_end_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    def work(job: JobStatus, progress: Progress) -> str:
        for done in range(1, 6):
            progress(f"step {done}", done, 6)  # a new stage each time, so every step is written
            time.sleep(0.3)
        return "out.mp4"

    runner = start(runners, store, work)
    job = store.create("alice", "test", {})
    seen: list[JobStatus] = []
    async for status in runner.follow("alice", job.id, interval=0.05):
        if not seen:
            assert status.state == "queued"  # the current status comes first, before the job runs
            runner.submit(job)
        seen.append(status)
    assert seen[-1].state == "succeeded" and seen[-1].percent == 100.0
    percents = [status.percent for status in seen if status.state == "running"]
    assert len(set(percents)) >= 4
    assert percents == sorted(percents)
    assert all(a != b for a, b in itertools.pairwise(seen))  # only changes are yielded
    assert [s async for s in runner.follow("bob", job.id)] == []
    assert [s.state async for s in runner.follow("alice", job.id)] == ["succeeded"]


def test_stop_leaves_queued_jobs_for_the_next_start_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    gate = threading.Event()

    def work(job: JobStatus, progress: Progress) -> str:
        gate.wait(TIMEOUT)
        return "out.mp4"

    runner = start(runners, store, work)
    first, second = store.create("alice", "test", {}), store.create("alice", "test", {})
    runner.submit(first)
    runner.submit(second)
    wait_for(lambda: store.get("alice", first.id).state == "running")  # type: ignore[union-attr]
    stopper = threading.Thread(target=runner.stop, kwargs={"wait": True, "timeout": TIMEOUT})
    stopper.start()
    gate.set()
    stopper.join(TIMEOUT)
    assert store.get("alice", first.id).state == "succeeded"  # type: ignore[union-attr]
    assert store.get("alice", second.id).state == "queued"  # type: ignore[union-attr]
    third = store.create("alice", "test", {})
    runner.submit(third)  # after stop: kept for the next start
    start(runners, store, lambda job, progress: "next.mp4")
    assert ended(store, "alice", second.id).output == "next.mp4"
    assert ended(store, "alice", third.id).output == "next.mp4"


def test_stop_without_waiting_leaves_running_job_for_recovery_plumbing(store: JobStore,
                                                                      runners: list[JobRunner]) -> None:
    interrupted = threading.Event()

    def work(job: JobStatus, progress: Progress) -> str:
        try:
            while True:
                progress("render", 1, 2)
                time.sleep(0.005)
        except JobCancelled:
            interrupted.set()
            raise

    runner = start(runners, store, work)
    job = store.create("alice", "test", {})
    runner.submit(job)
    wait_for(lambda: store.get("alice", job.id).stage == "render")  # type: ignore[union-attr]
    runner.stop(wait=False)
    assert interrupted.wait(TIMEOUT)
    time.sleep(0.05)
    assert store.get("alice", job.id).state == "running"  # type: ignore[union-attr]
    start(runners, store, lambda job, progress: "out.mp4")
    final = ended(store, "alice", job.id)
    assert (final.state, final.attempts) == ("succeeded", 2)


def test_recovery_in_process_plumbing(store: JobStore, runners: list[JobRunner]) -> None:
    once = store.create("alice", "test", {"n": 1})
    twice = store.create("alice", "test", {"n": 2})
    cancelling = store.create("alice", "test", {"n": 3})
    queued = store.create("alice", "test", {"n": 4})
    for job in (once, twice, cancelling):
        store.mark_running(job.id)
    store.requeue(twice.id)
    store.mark_running(twice.id)
    store.request_cancel("alice", cancelling.id)
    ran: list[int] = []

    def work(job: JobStatus, progress: Progress) -> str:
        ran.append(job.params["n"])
        return "out.mp4"

    start(runners, store, work)
    assert (ended(store, "alice", once.id).state, ended(store, "alice", once.id).attempts) == ("succeeded", 2)
    assert ended(store, "alice", queued.id).state == "succeeded"
    failed = ended(store, "alice", twice.id)
    assert (failed.state, failed.error, failed.attempts) == ("failed", STOPPED_TWICE, 2)
    assert ended(store, "alice", cancelling.id).state == "cancelled"
    assert ran == [1, 4]


_KILLED_WORKER = """
import sys
from pathlib import Path
from talker.server.jobs import JobRunner, JobStore

def work(job, progress):
    progress("blocked", 1, 10)
    # waits for a file that never appears: only SIGKILL ends this process
    while not Path(sys.argv[2]).exists():
        progress("blocked", 1, 10)
        import time; time.sleep(0.05)
    return "never.mp4"

JobRunner(JobStore(Path(sys.argv[1])), work).start()
import time
while True:
    time.sleep(1)
"""


def run_and_kill(path: Path, job_id: str, attempt: int) -> None:
    """Start a real server-like process on the store, SIGKILL it once it runs the job (attempt `attempt`)."""
    script = textwrap.dedent(_KILLED_WORKER)
    process = subprocess.Popen([sys.executable, "-c", script, str(path), str(path.parent / "never-created")])
    watcher = JobStore(path)
    try:
        def running() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the worker process exited with {process.returncode}")
            status = watcher.get("alice", job_id)
            return status is not None and (status.state, status.stage, status.attempts) == (
                "running", "blocked", attempt)

        wait_for(running, timeout=15.0)
    finally:
        watcher.close()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(TIMEOUT)
    assert process.returncode == -signal.SIGKILL


def test_restart_after_kill_runs_the_job_again_plumbing(tmp_path: Path, runners: list[JobRunner]) -> None:
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    job = store.create("alice", "video", {"text": "hello"})
    run_and_kill(path, job.id, attempt=1)
    killed = store.get("alice", job.id)
    assert killed is not None and killed.state == "running" and killed.attempts == 1

    start(runners, store, lambda job, progress: f"{job.id}.mp4")
    final = ended(store, "alice", job.id)
    assert (final.state, final.attempts, final.output, final.error) == ("succeeded", 2, f"{job.id}.mp4", None)
    store.close()


def test_restart_after_two_kills_fails_the_job_plumbing(tmp_path: Path, runners: list[JobRunner]) -> None:
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    job = store.create("alice", "video", {"text": "hello"})
    run_and_kill(path, job.id, attempt=1)
    run_and_kill(path, job.id, attempt=2)
    ran: list[str] = []

    def work(job: JobStatus, progress: Progress) -> str:
        ran.append(job.id)
        return "out.mp4"

    start(runners, store, work)
    final = ended(store, "alice", job.id)
    assert (final.state, final.error, final.attempts) == ("failed", STOPPED_TWICE, 2)
    assert final.error == "the server stopped twice while this job was running"
    assert ran == []
    store.close()
