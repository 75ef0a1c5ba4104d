"""The Kafka protocol, sans-IO: bytes in, message objects out, and back.

Nothing in this package touches sockets, files (except reading a ``FileSlice``
when asked to join buffers), trio or clocks.
"""
