"""Kafka's on-disk log, with synchronous file I/O and no clock of its own.

Modules, bottom up:

* ``errors``: ``StorageError`` (carries the Kafka error code) and ``DuplicateBatchError``;
* ``config``: ``LogConfig``, the topic-level settings by Kafka's names;
* ``checkpoints``: the small text files (offset checkpoints, leader-epoch checkpoint,
  ``partition.metadata``, ``meta.properties``, clean-shutdown marker), written atomically;
* ``queue_threads``: the marker protocol of the queue-fed helper threads;
* ``write_behind``: early writeback and page-cache bounds for appended data;
* ``index``: the sparse ``.index`` and ``.timeindex`` of a segment;
* ``segment``: one ``.log`` file with its indexes, recovery scan;
* ``leader_epoch``: the leader-epoch cache;
* ``producer_state`` and ``transaction_index``: idempotence and transactions;
* ``validator``: produce validation and in-place offset assignment (LogValidator);
* ``log``: a partition's log (UnifiedLog); ``log_manager``: all logs of the broker.
"""
