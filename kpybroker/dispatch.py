"""The dispatch table: API key -> handler coroutine and the versions it serves.

Handler modules register themselves::

    @handler(ApiKey.METADATA)            # every version wire covers
    async def handle(ctx, header, request): ...

    @handler(ApiKey.FETCH, 4)            # from v4 up to what wire covers

ApiVersions is answered from this table (``supported_versions``), so what the
broker advertises is exactly what is registered.

``error_response`` builds the answer Kafka gives when a request fails as a whole
(Kafka's per-API ``getErrorResponse``): the top-level ``error_code`` when the
response has one at that version, otherwise the request's topics / partitions /
resources mirrored into the response with ``error_code`` set on each. It walks
the message schema that wire ships (``wire/schema/<api>.json``), so it works for
every API without per-API code.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

HandlerFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class HandlerEntry:
    """One registered API: its version range and coroutine."""

    api_key: int
    min_version: int
    max_version: int
    func: HandlerFunc


HANDLERS: dict[int, HandlerEntry] = {}


class RequestError(Exception):
    """A handler refusing a whole request with one error code.

    Kafka's handlers throw (``InvalidRequestException`` and the like) and the
    request is answered with that API's error response; the connection answers a
    ``RequestError`` with ``error_response(..., error_code)`` the same way.
    """

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


def handler(api_key: int, min_version: int | None = None,
            max_version: int | None = None) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register ``async def handle(ctx, header, request) -> response | None`` for
    ``api_key``. Missing bounds default to the range wire covers."""

    def register(func: HandlerFunc) -> HandlerFunc:
        from wire.protocol import version_range

        lo, hi = version_range(int(api_key))
        entry = HandlerEntry(
            int(api_key),
            lo if min_version is None else max(min_version, lo),
            hi if max_version is None else min(max_version, hi),
            func,
        )
        if entry.min_version > entry.max_version:
            raise ValueError(f"handler for api key {api_key}: empty version range")
        existing = HANDLERS.get(entry.api_key)
        if existing is not None and existing.func is not func:
            raise ValueError(
                f"api key {api_key} registered twice ({existing.func.__module__} and {func.__module__})"
            )
        HANDLERS[entry.api_key] = entry
        return func

    return register


def ensure_loaded() -> None:
    """Import every handler module (idempotent)."""
    from kpybroker import handlers

    handlers.load_all()


def lookup(api_key: int, api_version: int) -> HandlerEntry | None:
    """The handler for this key and version, or None when we do not serve it."""
    entry = HANDLERS.get(api_key)
    if entry is None or not entry.min_version <= api_version <= entry.max_version:
        return None
    return entry


def supported_versions() -> list[tuple[int, int, int]]:
    """``(api_key, min_version, max_version)`` for every registered API, by key."""
    ensure_loaded()
    return [(e.api_key, e.min_version, e.max_version) for e in sorted(HANDLERS.values(), key=lambda e: e.api_key)]


# -- error responses -------------------------------------------------------------------

_IDENTITY = {"name", "topic", "topicname", "topicid", "partition", "partitionindex", "index",
             "resourcetype", "resourcename", "groupid", "transactionalid", "key", "keytype",
             "brokerid", "logdir", "path", "producerid"}


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _in_versions(spec: str | None, version: int) -> bool:
    if spec is None:
        return True
    if spec == "none":
        return False
    if spec.endswith("+"):
        return version >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= version <= int(hi)
    return version == int(spec)


@cache
def _schema_module(module: str) -> dict[str, Any]:
    text = resources.files("wire").joinpath("schema", f"{module}.json").read_text()
    return json.loads(text)


def _message_fields(cls: type, version: int) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    module = cls.__module__.rsplit(".", 1)[-1]
    for sch in _schema_module(module)["messages"]:
        if sch["name"] == cls.__name__:
            src = sch["versions"].get(str(version)) or next(iter(sch["definitions"]))
            d = sch["definitions"][src]
            common = {s["name"]: s["fields"] for s in d.get("commonStructs", [])}
            return d["fields"], common
    raise LookupError(f"no schema for {cls.__name__}")


def _attr_for(obj: Any, field_name: str) -> str | None:
    want = _norm(field_name)
    for attr in obj._FIELDS:
        if _norm(attr) == want:
            return attr
    return None


def _struct_list_fields(fields: list[dict[str, Any]], version: int,
                        common: dict[str, list[dict[str, Any]]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    out = []
    for f in fields:
        t = f.get("type", "")
        if t.startswith("[]") and _in_versions(f.get("versions"), version):
            sub = f.get("fields") or common.get(t[2:])
            if sub:
                out.append((f, sub))
    return out


def _fill(dst: Any, dst_cls_root: type, dst_fields: list[dict[str, Any]], src: Any,
          src_fields: list[dict[str, Any]], version: int, error_code: int,
          dst_common: dict[str, list[dict[str, Any]]], src_common: dict[str, list[dict[str, Any]]],
          top: bool) -> None:
    active = [f for f in dst_fields if _in_versions(f.get("versions"), version)]
    names = {_norm(f["name"]) for f in active}
    if "errorcode" in names:
        dst.error_code = error_code
        if top:
            return
    if src is None:
        return
    # Copy identity fields (topic name, partition index, resource name...) from the request.
    for f in active:
        n = _norm(f["name"])
        if n in _IDENTITY and not f.get("type", "").startswith("[]"):
            sattr = _attr_for(src, f["name"])
            dattr = _attr_for(dst, f["name"])
            if sattr and dattr:
                value = getattr(src, sattr)
                # A name the request may leave null (Metadata v10+ topics) stays at the
                # response field's default where that field cannot be null, as Kafka's
                # getErrorResponse turns a null topic name into "".
                if value is None and not _in_versions(f.get("nullableVersions", "none"), version):
                    continue
                setattr(dst, dattr, value)
    src_lists = _struct_list_fields(src_fields, version, src_common) if src is not None else []
    for f, sub in _struct_list_fields(dst_fields, version, dst_common):
        dattr = _attr_for(dst, f["name"])
        item_cls = getattr(dst_cls_root, f["type"][2:], None)
        if dattr is None or item_cls is None:
            continue
        ids = {_norm(x["name"]) for x in sub} & _IDENTITY
        match = None
        for sf, ssub in src_lists:
            if ids & {_norm(x["name"]) for x in ssub}:
                match = (sf, ssub)
                break
        if match is None:
            continue
        sattr = _attr_for(src, match[0]["name"])
        items = getattr(src, sattr, None) if sattr else None
        out = []
        for s_item in items or ():
            item = item_cls()
            _fill(item, dst_cls_root, sub, s_item, match[1], version, error_code,
                  dst_common, src_common, False)
            out.append(item)
        setattr(dst, dattr, out)


def error_response(api_key: int, api_version: int, request: Any, error_code: int) -> Any:
    """The response Kafka sends when the whole request fails with ``error_code``."""
    from wire.protocol import RESPONSES

    resp_cls = RESPONSES[api_key]
    resp = resp_cls()
    dst_fields, dst_common = _message_fields(resp_cls, api_version)
    if request is not None:
        src_fields, src_common = _message_fields(type(request), api_version)
    else:
        src_fields, src_common = [], {}
    _fill(resp, resp_cls, dst_fields, request, src_fields, api_version, int(error_code),
          dst_common, src_common, True)
    return resp


def api_name(api_key: int) -> str:
    """Kafka's name for an API key (``Produce``, ``ApiVersions``)."""
    from wire.api_keys import ApiKey

    try:
        upper = ApiKey(api_key).name
    except ValueError:
        return f"Unknown({api_key})"
    return "".join(p.capitalize() for p in upper.split("_"))
