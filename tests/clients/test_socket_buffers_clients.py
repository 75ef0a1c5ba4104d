"""socket.send.buffer.bytes / socket.receive.buffer.bytes set small: a stock client
(confluent-kafka) still moves large records both ways, each request and answer
crossing many partial sends and receives. (A receive buffer shrunk on a connection
after its handshake stalled producers: it now goes on the listening socket.)"""

from __future__ import annotations

import os
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def test_large_records_through_small_socket_buffers(start_broker: Any) -> None:
    broker = start_broker({"socket.send.buffer.bytes": "4096", "socket.receive.buffer.bytes": "4096"})
    admin = AdminClient({"bootstrap.servers": broker})
    admin.create_topics([NewTopic("small-buffers", 1, 1)])["small-buffers"].result()
    values = [b"%03d" % i + os.urandom(256 * 1024) for i in range(12)]  # 3 MiB
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    errors: list[Any] = []
    for v in values:
        producer.produce("small-buffers", v, on_delivery=lambda err, _m: errors.append(err) if err else None)
    assert producer.flush(30) == 0 and errors == []
    consumer = Consumer({"bootstrap.servers": broker, "group.id": "small-buffers", "enable.auto.commit": False})
    got: list[bytes] = []
    try:
        consumer.assign([TopicPartition("small-buffers", 0, 0)])
        deadline = time.monotonic() + 30
        while len(got) < len(values) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append(msg.value())
    finally:
        consumer.close()
    assert got == values
