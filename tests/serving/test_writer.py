"""The batch writer base of data capture and human review: a queue bounded by bytes gives its
room back as the thread takes items, and stopping writes everything queued, in order."""

from __future__ import annotations

import logging

from kiln.serving._writer import BatchWriter


class _Recorder(BatchWriter[str]):
    thread_name = "kiln-test-writer"
    log = logging.getLogger("kiln.serving.test-writer")
    metric = "kiln_test"
    written_name = "items"
    written_help = "Items written."
    dropped_help = "Items dropped."
    failures_help = "Items not written."

    def __init__(self) -> None:
        super().__init__(flush_seconds=60, max_queue_bytes=10)
        self.written: list[str] = []

    def _write_batch(self, batch: list[str]) -> None:
        self.written += batch


def test_the_byte_bound_frees_room_as_items_are_written_and_stop_loses_nothing():
    writer = _Recorder()
    assert [writer._enqueue("e", item, 4) for item in "abc"] == [True, True, False]
    assert writer.registry.get_sample_value("kiln_test_dropped_total", {"endpoint": "e"}) == 1
    writer.flush()
    writer.start()  # a flush a minute: only stop writes what follows
    assert [writer._enqueue("e", item, 4) for item in "de"] == [True, True]
    writer.stop()
    assert writer.written == ["a", "b", "d", "e"]
    assert writer._enqueue("e", "f", 10)  # all ten bytes free again
