"""Between steps the job hands freed memory back (pipelines/defs/memory.py)."""

import gc
import sys
import weakref

import pytest

from pipelines.defs.memory import _malloc_trim, release_freed_memory


class _Node:
    def __init__(self):
        self.payload = bytearray(8 << 20)
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_release_collects_cycles_and_freezes_the_survivors():
    node = _Node()
    alive = weakref.ref(node)
    del node
    gc.disable()  # no automatic collection may free it first
    try:
        assert alive() is not None
        release_freed_memory()
        assert alive() is None
        assert gc.get_freeze_count() > 0
        # a cycle made after the freeze is still collected
        later = _Node()
        alive_later = weakref.ref(later)
        del later
        release_freed_memory()
        assert alive_later() is None
    finally:
        gc.enable()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_is_found_on_linux():
    assert _malloc_trim() is not None
    assert _malloc_trim()(0) in (0, 1)


def _steps_and_hooks(result, outcome) -> tuple[set, set]:
    from dagster import DagsterEventType

    steps = {e.step_key for e in result.all_events if e.event_type == outcome}
    hooked = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.HOOK_COMPLETED}
    return steps, hooked


def test_the_job_releases_memory_after_every_step_success_or_failure(claimwire, monkeypatch):
    from dagster import DagsterEventType

    from pipelines.definitions import defs

    job = defs.resolve_job_def("claimwire")
    assert {hook.name for hook in job.hook_defs} == {"release_memory_after_step", "release_memory_after_failed_step"}
    claimwire.add_seeds()
    result = claimwire.run(select=["documents", "rejected_files"])
    assert result.success
    steps, hooked = _steps_and_hooks(result, DagsterEventType.STEP_SUCCESS)
    assert steps == {"ingest_raw_files", "documents_documents_expectations", "rejected_files_rejected_files_expectations"}
    assert hooked == steps

    monkeypatch.setenv("CLAIMWIRE_RAW_DIR", str(claimwire.root / "no such folder"))
    failed = claimwire.run(raise_on_error=False, select=["documents", "rejected_files"])
    assert not failed.success
    steps, hooked = _steps_and_hooks(failed, DagsterEventType.STEP_FAILURE)
    assert steps == {"ingest_raw_files"} and hooked == steps
