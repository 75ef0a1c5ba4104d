"""The config logic behind CreateTopics, DescribeConfigs, AlterConfigs and
IncrementalAlterConfigs.

Handlers stay thin: they turn request objects into calls here and results back
into response objects. Everything below works on plain dicts of strings and the
``ConfigDef`` tables of ``kpybroker.config``, so it is testable without a socket.

Where a value comes from (Kafka's layering, highest precedence first):

1. a topic override (``DYNAMIC_TOPIC_CONFIG``), for topic resources;
2. a dynamic per-broker config, set by AlterConfigs on ``BROKER "<id>"``
   (``DYNAMIC_BROKER_CONFIG``);
3. a dynamic cluster-wide default, set on ``BROKER ""``
   (``DYNAMIC_DEFAULT_BROKER_CONFIG``);
4. the broker's properties file / ``--override`` (``STATIC_BROKER_CONFIG``);
5. the built-in default (``DEFAULT_CONFIG``).

Group resources (Kafka's GroupConfig) have two: the group's own setting
(``GROUP_CONFIG``) or the default, which is the broker property behind it.

The metadata store keeps one dict of dynamic broker configs; per-broker entries
are stored under their own name and cluster-wide defaults under
``DEFAULT_SCOPE_PREFIX + name`` (a single-broker store has no other place for
the second scope). ``dynamic_broker_layers`` splits them again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from kpybroker.config import (
    BOOLEAN,
    BROKER_CONFIGS,
    CLASS,
    DOUBLE,
    GROUP_CONFIGS,
    INT,
    LIST,
    LONG,
    PASSWORD,
    SHORT,
    STRING,
    TOPIC_CONFIGS,
    ConfigDef,
    ConfigError,
    broker_synonyms,
    group_config_defaults,
    topic_properties_from_layers,
    topic_value_from_layers,
)
from kpybroker.config import validate_group_configs as _validate_group_configs
from kpybroker.config import validate_topic_configs as _validate_topic_configs
from wire.errors import ErrorCode

DEFAULT_SCOPE_PREFIX = "__cluster_default__:"

MAX_TOPIC_NAME_LENGTH = 249
_LEGAL_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
CLUSTER_METADATA_TOPIC = "__cluster_metadata"
# Kafka's controller writes one user operation as at most this many metadata
# records (QuorumController.MAX_RECORDS_PER_USER_OP): a topic record, its config
# records and one record per partition all count.
MAX_RECORDS_PER_USER_OP = 10_000


class ResourceType(IntEnum):
    """Kafka's ConfigResource.Type ids."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


class ConfigSource(IntEnum):
    """Kafka's DescribeConfigsResponse.ConfigSource ids."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8


class ConfigType(IntEnum):
    """Kafka's DescribeConfigsResponse.ConfigType ids (DescribeConfigs v3+)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class AlterOp(IntEnum):
    """IncrementalAlterConfigs operations (Kafka's AlterConfigOp.OpType)."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


_CONFIG_TYPES = {
    BOOLEAN: ConfigType.BOOLEAN,
    STRING: ConfigType.STRING,
    INT: ConfigType.INT,
    SHORT: ConfigType.SHORT,
    LONG: ConfigType.LONG,
    DOUBLE: ConfigType.DOUBLE,
    LIST: ConfigType.LIST,
    CLASS: ConfigType.CLASS,
    PASSWORD: ConfigType.PASSWORD,
}


class AdminError(Exception):
    """A request-level refusal carrying the Kafka error code and message to answer with."""

    def __init__(self, error_code: ErrorCode, message: str | None = None) -> None:
        super().__init__(message if message is not None else error_code.message)
        self.error_code = error_code
        # Kafka answers some errors with no message at all; ``raw_message`` keeps that.
        self.raw_message = message
        self.message = message if message is not None else error_code.message


@dataclass
class Synonym:
    """One entry of a DescribeConfigs synonym list."""

    name: str
    value: str | None
    source: ConfigSource


@dataclass
class ConfigEntry:
    """One described config, independent of the response version."""

    name: str
    value: str | None
    source: ConfigSource
    read_only: bool
    sensitive: bool
    config_type: ConfigType
    synonyms: list[Synonym] = field(default_factory=list)
    documentation: str | None = None

    @property
    def is_default(self) -> bool:
        return self.source == ConfigSource.DEFAULT_CONFIG


# -- topic names ------------------------------------------------------------------


def topic_name_error(name: str | None) -> str | None:
    """Why ``name`` is not a legal topic name (Kafka's Topic.validate), or None."""
    if name is None or name == "":
        reason = "the empty string is not allowed"
    elif name in (".", ".."):
        reason = f"'{name}' is not allowed"
    elif len(name) > MAX_TOPIC_NAME_LENGTH:
        reason = (
            f"the length of '{name}' is longer than the max allowed length {MAX_TOPIC_NAME_LENGTH}"
        )
    elif not set(name) <= _LEGAL_TOPIC_CHARS:
        reason = f"'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
    else:
        return None
    return f"Topic name is invalid: {reason}"


def validate_topic_name(name: str | None) -> None:
    """Raise ``AdminError(INVALID_TOPIC_EXCEPTION)`` for an illegal topic name."""
    reason = topic_name_error(name)
    if reason is not None:
        raise AdminError(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)


# -- value rendering ----------------------------------------------------------------


def render(cdef: ConfigDef | None, raw: str | None) -> str | None:
    """A config value as Kafka shows it: parsed by its type and printed back
    (``" compact, delete"`` -> ``"compact,delete"``). Unparseable or unknown
    values are shown as given."""
    if raw is None or cdef is None:
        return raw
    try:
        value = cdef.parse(raw)
    except ConfigError:
        return raw
    return format_value(cdef.type, value)


def format_value(type_: str, value: Any) -> str | None:
    if value is None:
        return None
    if type_ == LIST:
        return ",".join(str(v) for v in value)
    if type_ == BOOLEAN:
        return "true" if value else "false"
    if type_ == DOUBLE:
        return repr(float(value))
    return str(value)


# -- the layers ---------------------------------------------------------------------


def dynamic_broker_layers(stored: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split the store's dynamic broker configs into (per-broker, cluster default)."""
    per_broker: dict[str, str] = {}
    cluster_default: dict[str, str] = {}
    for key, value in stored.items():
        if key.startswith(DEFAULT_SCOPE_PREFIX):
            cluster_default[key[len(DEFAULT_SCOPE_PREFIX) :]] = value
        else:
            per_broker[key] = value
    return per_broker, cluster_default


def join_dynamic_broker_layers(
    per_broker: Mapping[str, str], cluster_default: Mapping[str, str]
) -> dict[str, str]:
    """The inverse of ``dynamic_broker_layers``: one dict for the store."""
    out = dict(per_broker)
    for key, value in cluster_default.items():
        out[DEFAULT_SCOPE_PREFIX + key] = value
    return out


@dataclass
class BrokerLayers:
    """The broker-level config layers, highest precedence first.

    ``static`` is what the properties file and ``--override`` gave (strings);
    ``dynamic_broker`` / ``dynamic_default`` what AlterConfigs stored.
    """

    static: Mapping[str, str]
    dynamic_broker: Mapping[str, str] = field(default_factory=dict)
    dynamic_default: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, broker_config: Any, stored_dynamic: Mapping[str, str] | None = None
    ) -> BrokerLayers:
        per_broker, cluster_default = dynamic_broker_layers(stored_dynamic or {})
        return cls(dict(getattr(broker_config, "raw", {}) or {}), per_broker, cluster_default)

    def ordered(self) -> list[tuple[ConfigSource, Mapping[str, str]]]:
        return [
            (ConfigSource.DYNAMIC_BROKER_CONFIG, self.dynamic_broker),
            (ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, self.dynamic_default),
            (ConfigSource.STATIC_BROKER_CONFIG, self.static),
        ]

    def maps(self) -> list[Mapping[str, str]]:
        """The layers' property maps alone, highest precedence first."""
        return [layer for _, layer in self.ordered()]

    def lookup(self, name: str) -> str | None:
        """The broker property's current string value, defaults included."""
        for _, layer in self.ordered():
            if name in layer:
                return layer[name]
        cdef = BROKER_CONFIGS.get(name)
        return cdef.default if cdef is not None else None

    def merged(self) -> dict[str, str]:
        """Every explicitly set broker property (dynamic over static)."""
        out = dict(self.static)
        out.update(self.dynamic_default)
        out.update(self.dynamic_broker)
        return out

    def synonyms(self, names: Iterable[str], sensitive: bool) -> list[Synonym]:
        """Kafka's ConfigHelper.configSynonyms: every layer in turn, each synonym name
        in precedence order, then the built-in defaults."""
        names = list(names)
        out: list[Synonym] = []
        for source, layer in self.ordered():
            for syn in names:
                if syn in layer:
                    out.append(Synonym(syn, None if sensitive else layer[syn], source))
        for syn in names:
            cdef = BROKER_CONFIGS.get(syn)
            if cdef is not None and cdef.default is not None:
                out.append(
                    Synonym(syn, None if sensitive else cdef.default, ConfigSource.DEFAULT_CONFIG)
                )
        return out


def _drop_until(synonyms: list[Synonym], name: str) -> list[Synonym]:
    # Kafka keeps the list from the first entry for the described name on, so a
    # more specific synonym (log.retention.ms) set elsewhere hides the less specific.
    for i, syn in enumerate(synonyms):
        if syn.name == name:
            return synonyms[i:]
    return []


def topic_value_from_broker(layers: BrokerLayers, topic_config: str) -> str | None:
    """A topic config's value when the topic does not override it (see
    ``kpybroker.config.topic_value_from_layers``)."""
    return topic_value_from_layers(layers.maps(), topic_config)


def effective_topic_configs(layers: BrokerLayers, overrides: Mapping[str, str]) -> dict[str, str]:
    """Every topic config's effective string value for a topic with ``overrides``."""
    return topic_properties_from_layers(layers.maps(), overrides)


# -- describing ---------------------------------------------------------------------


def _is_sensitive(cdef: ConfigDef | None) -> bool:
    return cdef is not None and (cdef.sensitive or cdef.type == PASSWORD)


def _entry(
    name: str,
    cdef: ConfigDef | None,
    value: str | None,
    synonyms: list[Synonym],
    read_only: bool,
    include_synonyms: bool,
    include_documentation: bool,
) -> ConfigEntry:
    # The source is that of the highest-precedence synonym, so it is computed even
    # when the synonyms themselves are not asked for.
    return ConfigEntry(
        name=name,
        value=value,
        source=synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG,
        read_only=read_only,
        sensitive=_is_sensitive(cdef),
        config_type=_CONFIG_TYPES.get(cdef.type, ConfigType.UNKNOWN) if cdef else ConfigType.UNKNOWN,
        synonyms=synonyms if include_synonyms else [],
        documentation=(cdef.doc if cdef else None) if include_documentation else None,
    )


def describe_topic(
    layers: BrokerLayers,
    overrides: Mapping[str, str],
    keys: Iterable[str] | None = None,
    *,
    include_synonyms: bool = False,
    include_documentation: bool = False,
) -> list[ConfigEntry]:
    """Kafka's ConfigHelper.createTopicConfigEntry for every topic config (or ``keys``).

    Overrides the table does not know are listed too (Kafka lists the topic's
    original properties), typed UNKNOWN.
    """
    names = sorted(set(TOPIC_CONFIGS) | set(overrides))
    wanted = set(keys) if keys else None
    entries: list[ConfigEntry] = []
    for name in names:
        if wanted is not None and name not in wanted:
            continue
        cdef = TOPIC_CONFIGS.get(name)
        sensitive = _is_sensitive(cdef)
        if name in overrides:
            raw = overrides[name]
        else:
            raw = topic_value_from_broker(layers, name) if cdef is not None else None
        value = None if sensitive else render(cdef, raw)
        all_syns: list[Synonym] = []
        if cdef is not None and cdef.synonyms:
            primary = cdef.synonyms[0]
            all_syns = _drop_until(
                layers.synonyms(broker_synonyms(primary), sensitive), primary
            )
        if name in overrides:
            all_syns.insert(0, Synonym(name, value, ConfigSource.DYNAMIC_TOPIC_CONFIG))
        entries.append(
            _entry(name, cdef, value, all_syns, False, include_synonyms, include_documentation)
        )
    return entries


def describe_broker(
    layers: BrokerLayers,
    keys: Iterable[str] | None = None,
    *,
    per_broker: bool = True,
    include_synonyms: bool = False,
    include_documentation: bool = False,
) -> list[ConfigEntry]:
    """Kafka's ConfigHelper.createBrokerConfigEntry.

    ``per_broker`` (resource name = this broker's id) lists every broker config
    and every explicitly given property; otherwise (empty resource name) only the
    cluster-wide dynamic defaults are listed.
    """
    if per_broker:
        names = sorted(set(BROKER_CONFIGS) | set(layers.merged()))
    else:
        names = sorted(layers.dynamic_default)
    wanted = set(keys) if keys else None
    entries: list[ConfigEntry] = []
    for name in names:
        if wanted is not None and name not in wanted:
            continue
        cdef = BROKER_CONFIGS.get(name)
        sensitive = _is_sensitive(cdef)
        if per_broker:
            raw = layers.lookup(name)
        else:
            raw = layers.dynamic_default[name]
        value = None if sensitive else render(cdef, raw)
        all_syns = _drop_until(layers.synonyms(broker_synonyms(name), sensitive), name)
        if not per_broker:
            all_syns = [
                s for s in all_syns if s.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
            ]
        read_only = cdef.read_only if cdef is not None else True
        entries.append(
            _entry(name, cdef, value, all_syns, read_only, include_synonyms, include_documentation)
        )
    return entries


def describe_group(
    layers: BrokerLayers,
    overrides: Mapping[str, str],
    keys: Iterable[str] | None = None,
    *,
    include_synonyms: bool = False,
    include_documentation: bool = False,
) -> list[ConfigEntry]:
    """Kafka's ConfigHelper.createGroupConfigEntry for every group config (or ``keys``):
    the group's own value (``GROUP_CONFIG``) or the broker's default
    (``DEFAULT_CONFIG``), each its own only synonym."""
    defaults = group_config_defaults(layers.lookup)
    wanted = set(keys) if keys else None
    entries: list[ConfigEntry] = []
    for name in sorted(GROUP_CONFIGS):
        if wanted is not None and name not in wanted:
            continue
        cdef = GROUP_CONFIGS[name]
        own = name in overrides
        value = render(cdef, overrides[name] if own else defaults[name])
        source = ConfigSource.GROUP_CONFIG if own else ConfigSource.DEFAULT_CONFIG
        entries.append(
            _entry(name, cdef, value, [Synonym(name, value, source)], False,
                   include_synonyms, include_documentation)
        )
    return entries


def check_group_resource(name: str | None, *, describing: bool = False) -> None:
    """A group resource needs a name (INVALID_REQUEST, in Kafka's two wordings)."""
    if not name:
        raise AdminError(
            ErrorCode.INVALID_REQUEST,
            "Group name must not be empty" if describing else "Default group resources are not allowed.",
        )


# -- validation ---------------------------------------------------------------------


def validate_topic_configs(configs: Mapping[str, str | None]) -> None:
    """``kpybroker.config.validate_topic_configs`` as the admin APIs answer it:
    ``AdminError(INVALID_CONFIG)``."""
    try:
        _validate_topic_configs(configs)
    except ConfigError as exc:
        raise AdminError(ErrorCode.INVALID_CONFIG, str(exc)) from None


def check_duplicates_and_nulls(configs: Iterable[tuple[str, str | None, int]]) -> None:
    """The broker's preprocessing of an (Incremental)AlterConfigs resource: duplicate
    keys and null values (outside DELETE) are INVALID_REQUEST. Each item is
    ``(name, value, op)``; legacy AlterConfigs passes op SET."""
    items = list(configs)
    names = [name for name, _, _ in items]
    if len(set(names)) != len(names):
        raise AdminError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
    nulls = [name for name, value, op in items if value is None and op != AlterOp.DELETE]
    if nulls:
        raise AdminError(
            ErrorCode.INVALID_REQUEST, "Null value not supported for : " + ", ".join(nulls)
        )


def apply_incremental(
    current: Mapping[str, str],
    ops: Iterable[tuple[str, str | None, int]],
    table: Mapping[str, ConfigDef],
) -> dict[str, str]:
    """Apply SET / DELETE / APPEND / SUBTRACT to ``current``; returns the new dict.

    APPEND and SUBTRACT work on list-typed configs only, starting from the current
    value or the config's default (Kafka's ConfigurationControlManager)."""
    out = dict(current)
    for name, value, op in ops:
        try:
            op = AlterOp(op)
        except ValueError:
            raise AdminError(ErrorCode.INVALID_REQUEST, f"Unknown operations type {op}") from None
        if op == AlterOp.SET:
            out[name] = value  # type: ignore[assignment]
        elif op == AlterOp.DELETE:
            out.pop(name, None)
        else:
            cdef = table.get(name)
            if cdef is None or cdef.type != LIST:
                verb = "APPEND" if op == AlterOp.APPEND else "SUBTRACT"
                raise AdminError(
                    ErrorCode.INVALID_CONFIG,
                    f"Can't {verb} to key {name} because its type is not LIST.",
                )
            base = out.get(name, cdef.default)
            parts = [p for p in (base or "").split(",") if p]
            for item in (value or "").split(","):
                if op == AlterOp.APPEND:
                    if item not in parts:
                        parts.append(item)
                elif item in parts:
                    parts.remove(item)
            out[name] = ",".join(parts)
    return out


def validate_broker_dynamic(configs: Mapping[str, str], *, per_broker: bool) -> None:
    """Kafka's DynamicBrokerConfig.validateConfigs, as INVALID_REQUEST (KAFKA-13609).

    Properties the table knows but marks read-only cannot change at run time;
    unknown properties are kept as custom configs, as Kafka does."""
    frozen = sorted(k for k in configs if k in BROKER_CONFIGS and BROKER_CONFIGS[k].read_only)
    if frozen:
        raise AdminError(
            ErrorCode.INVALID_REQUEST,
            f"Cannot update these configs dynamically: Set({', '.join(frozen)})",
        )
    for key, value in configs.items():
        cdef = BROKER_CONFIGS.get(key)
        if cdef is None:
            continue
        try:
            cdef.parse(value)
        except ConfigError as exc:
            raise AdminError(ErrorCode.INVALID_REQUEST, str(exc)) from None


def parse_broker_resource(name: str, broker_id: int, *, what: str = "Node") -> bool:
    """Check a BROKER resource name; True when it names this broker, False for the
    cluster-wide default (empty name). Raises INVALID_REQUEST otherwise."""
    if name is None or name == "":
        return False
    require_broker_id(
        name,
        broker_id,
        what=what,
        mismatch=f"Unexpected broker id, expected {broker_id}, but received {name}",
    )
    return True


def require_broker_id(name: str, broker_id: int, *, what: str, mismatch: str) -> None:
    """A BROKER / BROKER_LOGGER resource name must be this broker's id: INVALID_REQUEST
    ``"<what> id must be an integer, ..."`` when it is no number, ``mismatch`` (Kafka
    words it differently per API) when it is another broker's."""
    try:
        node = int(name)
    except ValueError:
        raise AdminError(
            ErrorCode.INVALID_REQUEST, f"{what} id must be an integer, but it is: {name}"
        ) from None
    if node != broker_id:
        raise AdminError(ErrorCode.INVALID_REQUEST, mismatch)


# -- glue shared by the admin handlers ------------------------------------------------


def validate_manual_assignment(
    replicas: list[int], live: set[int], replication: int | None
) -> None:
    """Kafka's ReplicationControlManager.validateManualPartitionAssignment."""
    if not replicas:
        raise AdminError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes an empty replica list.",
        )
    previous: int | None = None
    for broker_id in sorted(replicas):
        if broker_id not in live:
            raise AdminError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"The manual partition assignment includes broker {broker_id}, but no "
                "such broker is registered.",
            )
        if broker_id == previous:
            raise AdminError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"The manual partition assignment includes the broker {previous} more than once.",
            )
        previous = broker_id
    if replication is not None and len(replicas) != replication:
        raise AdminError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"The manual partition assignment includes a partition with {len(replicas)} "
            "replica(s), but this is not consistent with previous partitions, which "
            f"have {replication} replica(s).",
        )


def live_broker_ids(broker: Any) -> set[int]:
    """Brokers that can host replicas: the cluster's live brokers when the broker
    knows them, else just this one."""
    live = getattr(broker, "live_brokers", None)
    if callable(live):
        live = live()
    if live:
        return {int(b) for b in live}
    return {int(broker.broker_id)}


def broker_layers(broker: Any) -> BrokerLayers:
    """The broker's config layers: its static config plus the store's dynamic configs."""
    store = getattr(broker, "metadata", None)
    stored = getattr(store, "broker_configs", None) or {}
    return BrokerLayers.of(broker.config, stored)


def topic_names(broker: Any) -> set[str]:
    store = broker.metadata
    names = getattr(store, "topic_names", None)
    if callable(names):
        return set(names())
    return {t.name for t in store.topics()}


def topic_overrides(broker: Any, name: str) -> dict[str, str] | None:
    """The topic's config overrides, or None when the topic does not exist."""
    topic = broker.metadata.get_topic(name)
    if topic is None:
        return None
    return dict(topic.configs)


def topic_id_of(broker: Any, name: str, info: Any = None) -> Any:
    """The topic id of a just-created topic: from the broker's TopicInfo, else the store."""
    tid = getattr(info, "topic_id", None)
    if tid is None:
        topic = broker.metadata.get_topic(name)
        tid = getattr(topic, "topic_id", None)
    if tid is None:
        import uuid

        return uuid.UUID(int=0)
    return tid


def error_code_of(exc: BaseException) -> ErrorCode | None:
    """The Kafka error code an exception from the broker or storage carries, if any."""
    code = getattr(exc, "error_code", None)
    if code is None:
        return None
    try:
        return ErrorCode(int(code))
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


def error_message_of(exc: BaseException) -> str | None:
    message = getattr(exc, "message", None)
    if message is None:
        message = str(exc) or None
    return message


# -- AlterConfigs / IncrementalAlterConfigs ---------------------------------------------

_LOG_LEVELS = {
    "OFF": 100,
    "FATAL": 50,
    "ERROR": 40,
    "WARN": 30,
    "INFO": 20,
    "DEBUG": 10,
    "TRACE": 5,
    "ALL": 1,
}


def duplicate_resources(resources: Iterable[Any]) -> set[tuple[int, str]]:
    """(type, name) pairs that appear more than once in one request."""
    seen: set[tuple[int, str]] = set()
    dups: set[tuple[int, str]] = set()
    for r in resources:
        key = (r.resource_type, r.resource_name)
        if key in seen:
            dups.add(key)
        seen.add(key)
    return dups


async def alter_each_resource(
    resources: Iterable[Any], alter: Callable[[Any], Awaitable[None]], result: Callable[..., Any]
) -> list[Any]:
    """The per-resource loop of AlterConfigs and IncrementalAlterConfigs: a resource
    listed twice fails with INVALID_REQUEST, any other resource is handed to
    ``alter``; each gets a ``result(error_code=, error_message=, resource_type=,
    resource_name=)``. An exception that carries no Kafka error code propagates."""
    resources = list(resources)
    dups = duplicate_resources(resources)
    results: list[Any] = []
    for r in resources:
        code, message = ErrorCode.NONE, None
        try:
            if (r.resource_type, r.resource_name) in dups:
                raise AdminError(ErrorCode.INVALID_REQUEST, "Each resource must appear at most once.")
            await alter(r)
        except AdminError as exc:
            code, message = exc.error_code, exc.message
        except Exception as exc:
            c = error_code_of(exc)
            if c is None:
                raise
            code, message = c, error_message_of(exc)
        results.append(
            result(
                error_code=int(code),
                error_message=message,
                resource_type=r.resource_type,
                resource_name=r.resource_name,
            )
        )
    return results


def _check_topic_resource(name: str) -> None:
    if not name:
        raise AdminError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    validate_topic_name(name)


async def _store_topic_configs(
    broker: Any, name: str, new: dict[str, str], validate_only: bool
) -> None:
    _check_topic_resource(name)
    validate_topic_configs(new)
    if broker.metadata.get_topic(name) is None:
        raise AdminError(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist."
        )
    if not validate_only:
        await broker.alter_topic_config(name, new)


async def _store_group_configs(
    broker: Any, name: str, new: dict[str, str | None], validate_only: bool
) -> None:
    check_group_resource(name)
    try:
        _validate_group_configs(new, broker_layers(broker).lookup)
    except ConfigError as exc:
        raise AdminError(ErrorCode.INVALID_CONFIG, str(exc)) from None
    if not validate_only:
        broker.metadata.set_group_configs(name, {k: v for k, v in new.items() if v is not None})


def _store_broker_configs(
    broker: Any, per_broker: bool, new: dict[str, str], validate_only: bool
) -> None:
    validate_broker_dynamic(new, per_broker=per_broker)
    if validate_only:
        return
    store = broker.metadata
    mine, cluster = dynamic_broker_layers(getattr(store, "broker_configs", {}) or {})
    if per_broker:
        mine = dict(new)
    else:
        cluster = dict(new)
    store.set_broker_configs(join_dynamic_broker_layers(mine, cluster))
    apply_topic_defaults(broker)


def apply_topic_defaults(broker: Any) -> None:
    """Hand every hosted partition the LogConfig its topic now has, so a dynamic
    broker default (e.g. ``log.retention.ms``) reaches topics without an override,
    as Kafka reconfigures its logs after a dynamic change."""
    manager = getattr(broker, "replica_manager", None)
    if manager is None:
        return
    from storage.config import LogConfig

    layers = broker_layers(broker)
    for topic in list(broker.metadata.topics()):
        config = LogConfig.from_properties(effective_topic_configs(layers, topic.configs))
        manager.update_config(topic.name, config)
        for index in topic.partitions:
            part = manager.get_partition(topic.name, index)
            log = getattr(part, "log", None)
            update = getattr(log, "update_config", None)
            if update is not None:
                update(config)
            elif log is not None and hasattr(log, "config"):
                log.config = config


async def alter_resource_legacy(
    broker: Any,
    resource_type: int,
    name: str,
    configs: list[tuple[str, str | None]],
    validate_only: bool,
) -> None:
    """AlterConfigs for one resource: its configs become exactly ``configs``."""
    check_duplicates_and_nulls((k, v, AlterOp.SET) for k, v in configs)
    new = {k: v for k, v in configs if v is not None}
    if resource_type == ResourceType.BROKER:
        per_broker = parse_broker_resource(name, broker.broker_id)
        _store_broker_configs(broker, per_broker, new, validate_only)
    elif resource_type == ResourceType.TOPIC:
        await _store_topic_configs(broker, name, new, validate_only)
    elif resource_type == ResourceType.GROUP:
        await _store_group_configs(broker, name, dict(new), validate_only)
    else:
        raise AdminError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {resource_type}")


_OP_TYPES = frozenset(o.value for o in AlterOp)


def _check_op_types(ops: Iterable[tuple[str, str | None, int]]) -> None:
    """Every operation is one Kafka knows (INVALID_REQUEST otherwise)."""
    for _, _, op in ops:
        if op not in _OP_TYPES:
            raise AdminError(ErrorCode.INVALID_REQUEST, f"Unknown operations type {op}")


async def alter_resource_incremental(
    broker: Any,
    resource_type: int,
    name: str,
    ops: list[tuple[str, str | None, int]],
    validate_only: bool,
) -> None:
    """IncrementalAlterConfigs for one resource."""
    check_duplicates_and_nulls(ops)
    if resource_type == ResourceType.BROKER:
        per_broker = parse_broker_resource(name, broker.broker_id)
        mine, cluster = dynamic_broker_layers(getattr(broker.metadata, "broker_configs", {}) or {})
        current = mine if per_broker else cluster
        # Kafka's ConfigAdminManager reads every operation type before it looks at
        # any APPEND or SUBTRACT, as the topic and group paths do.
        _check_op_types(ops)
        for key, _, op in ops:
            if op in (AlterOp.APPEND, AlterOp.SUBTRACT):
                cdef = BROKER_CONFIGS.get(key)
                if cdef is None:
                    raise AdminError(ErrorCode.INVALID_CONFIG, f"Unknown config name: {key}")
                if cdef.type != LIST:
                    verb = "append" if op == AlterOp.APPEND else "subtract"
                    raise AdminError(
                        ErrorCode.INVALID_CONFIG,
                        f"Config value {verb} is not allowed for config key: {key}",
                    )
        new = apply_incremental(current, ops, BROKER_CONFIGS)
        _store_broker_configs(broker, per_broker, new, validate_only)
    elif resource_type == ResourceType.TOPIC:
        # As Kafka's controller: the operations are applied (APPEND or SUBTRACT on
        # a config that is not a list is INVALID_CONFIG) before the name is checked,
        # which storing does first.
        _check_op_types(ops)
        new = apply_incremental(topic_overrides(broker, name) or {}, ops, TOPIC_CONFIGS)
        await _store_topic_configs(broker, name, new, validate_only)
    elif resource_type == ResourceType.GROUP:
        _check_op_types(ops)
        new = apply_incremental(broker.metadata.group_configs(name), ops, GROUP_CONFIGS)
        await _store_group_configs(broker, name, dict(new), validate_only)
    elif resource_type == ResourceType.BROKER_LOGGER:
        _alter_loggers(broker, name, ops, validate_only)
    else:
        raise AdminError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {resource_type}")


def _alter_loggers(
    broker: Any, name: str, ops: list[tuple[str, str | None, int]], validate_only: bool
) -> None:
    """KIP-412 log levels, applied to Python's loggers and never persisted."""
    import logging

    parse_broker_resource(name, broker.broker_id, what="Broker")
    if not name:
        raise AdminError(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
    changes: list[tuple[logging.Logger, int]] = []
    for logger_name, value, op in ops:
        target = logging.getLogger() if logger_name == "root" else logging.getLogger(logger_name)
        if op == AlterOp.SET:
            level = _LOG_LEVELS.get((value or "").upper())
            if level is None:
                raise AdminError(
                    ErrorCode.INVALID_CONFIG,
                    f"Cannot set the log level of {logger_name} to {value} as it is not "
                    f"a supported log level. Valid log4j levels are "
                    f"{', '.join(_LOG_LEVELS)}",
                )
            changes.append((target, level))
        elif op == AlterOp.DELETE:
            if logger_name == "root":
                raise AdminError(
                    ErrorCode.INVALID_REQUEST,
                    "Removing the log level of the root logger is not allowed",
                )
            changes.append((target, logging.NOTSET))
        else:
            verb = (
                "APPEND"
                if op == AlterOp.APPEND
                else "SUBTRACT"
                if op == AlterOp.SUBTRACT
                else str(op)
            )
            raise AdminError(
                ErrorCode.INVALID_REQUEST,
                f"{verb} operation is not allowed for the BROKER_LOGGER resource",
            )
    if not validate_only:
        for target, level in changes:
            target.setLevel(level)
