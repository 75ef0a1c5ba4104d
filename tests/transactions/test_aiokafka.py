"""aiokafka's transactional producer: commit, abort and offsets, read back read_committed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.transactions.test_clients_basic import committed_offset, consume_all, make_topic


def test_aiokafka_transactions(broker: Any) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    topic = make_topic(broker)
    group = "g-" + uuid.uuid4().hex[:8]

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker, transactional_id="aio-" + uuid.uuid4().hex[:8]
        )
        await producer.start()
        try:
            async with producer.transaction():
                for i in range(3):
                    await producer.send_and_wait(topic, b"ok%d" % i)
                await producer.send_offsets_to_transaction(
                    {TopicPartition(topic, 0): OffsetAndMetadata(3, "")}, group
                )
            await producer.begin_transaction()
            await producer.send_and_wait(topic, b"dropped")
            await producer.abort_transaction()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            got: list[bytes] = []
            batches = await consumer.getmany(timeout_ms=3000)
            for msgs in batches.values():
                got.extend(m.value for m in msgs)
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [b"ok0", b"ok1", b"ok2"]
    assert [v for _, _, v in consume_all(broker, topic, "read_uncommitted", expect=4)][
        -1
    ] == b"dropped"
    assert committed_offset(broker, group, topic) == 3
