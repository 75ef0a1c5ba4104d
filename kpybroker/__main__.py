"""Command line: ``kpybroker [server.properties] [--override key=value ...]``.

Prints one startup line naming the listeners and data dirs once the broker
accepts connections (tests read the bound port from it). SIGINT and SIGTERM
shut down cleanly (flush, checkpoints, clean-shutdown marker) and exit 0.
Configuration and startup problems print one ``kpybroker: error: ...`` line to
stderr and exit 1, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from kpybroker.broker import Broker, StartupError
from kpybroker.config import BrokerConfig, ConfigError, Listener, parse_override

log = logging.getLogger("kpybroker")

EXIT_CONFIG = 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kpybroker",
        description="A Kafka broker in Python: stock Kafka clients connect unchanged.",
    )
    p.add_argument("config", nargs="?", help="server.properties file (Kafka's property names)")
    p.add_argument("--override", action="append", default=[], metavar="key=value",
                   help="set a property, overriding the file (repeatable)")
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return p


def startup_line(broker: Broker) -> str:
    listeners = ",".join(str(Listener(name, host, port)) for name, host, port in broker.bound_addresses)
    advertised = ",".join(str(a) for a in broker.advertised_listeners)
    return (f"kpybroker started (broker.id={broker.broker_id}, cluster.id={broker.cluster_id}) "
            f"listeners={listeners} advertised.listeners={advertised} log.dirs={','.join(broker.log_dirs)}")


async def _serve(config: BrokerConfig) -> None:
    from kpybroker.server import run_broker

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            broker: Broker = await nursery.start(run_broker, config)
            print(startup_line(broker), flush=True)
            async for signum in signals:
                log.info("received %s: shutting down", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        overrides = [parse_override(o) for o in args.override]
        config = BrokerConfig.from_file(args.config, overrides)
    except ConfigError as exc:
        print(f"kpybroker: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from kpybroker.server import leaf_error

    try:
        trio.run(_serve, config)
    except KeyboardInterrupt:
        pass
    except BaseException as exc:
        leaf = leaf_error(exc)
        if isinstance(leaf, (StartupError, ConfigError)):
            print(f"kpybroker: error: {leaf}", file=sys.stderr)
            return EXIT_CONFIG
        if isinstance(leaf, KeyboardInterrupt):
            return 0
        raise
    log.info("kpybroker shut down cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
