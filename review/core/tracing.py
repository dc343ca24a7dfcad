"""OpenTelemetry tracing of an item's path: off and free unless OTLP export is configured.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and
the `tracing` extra is installed: `init_tracing` (called by the app factory) then builds
one tracer provider per process from the standard `OTEL_*` variables (service name,
resource attributes, sampler, batch processor, exporter headers and timeout), exports
over OTLP (http/protobuf; gRPC when `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` and its exporter is
installed), and instruments Flask, the app's SQLAlchemy engine, requests and redis.
Otherwise nothing is installed or patched: `span` returns at its first test.

The item's path (docs/operations.md#tracing): `review.ingest` -> `review.route` ->
(job) `review.check` -> `review.claim` -> `review.decide` -> (job) `review.webhook.deliver`.
The trace context rides in each RQ job's meta (`inject_job_meta` at enqueue,
`job_trace_context` around the job). The decision and the delivery come later, in other
traces: they carry a span Link to the ingest span, whose W3C `traceparent` is kept in the
item's `ingested` audit event (`ingest_trace`, `link_item`).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Any, TypeVar

from flask import Flask
from rq import get_current_job
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from review.core.models import Item, ItemEvent

try:  # the `tracing` extra; without it every helper below is a no-op
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind
except ImportError:
    trace = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
TRACER_NAME = "review"
JOB_META_KEY = "trace_context"  # W3C headers (traceparent, tracestate) in an RQ job's meta
INGEST_EVENT_KEY = "traceparent"  # in the `ingested` event's data
EXPORTERS = "opentelemetry.exporter.otlp.proto"


class _State:
    provider: Any = None
    tracer: Any = None
    pid: int | None = None  # the process that set tracing up (a forked child flushes)
    global_instruments: list[Any] = []


_state = _State()


def enabled() -> bool:
    return _state.tracer is not None


def tracer_provider() -> Any:
    """The provider this process traces with, or None when tracing is off."""
    return _state.provider


def _wanted_from_env() -> bool:
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def init_tracing(app: Flask) -> bool:
    """Instrument `app` (Flask, its engine) when tracing is on; set it up from the
    environment on first use in this process. False, with nothing touched, when off."""
    if _state.tracer is None:
        if not _wanted_from_env():
            return False
        provider = _provider_from_env()
        if provider is None:
            return False
        trace.set_tracer_provider(provider)  # for libraries that use the global API
        enable(provider)
    _instrument_app(app)
    return True


def _provider_from_env() -> Any:
    try:
        from opentelemetry.sdk.resources import Resource  # the SDK: only when tracing is on
        from opentelemetry.sdk.trace import TracerProvider  # idem
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # idem
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the tracing extra is not "
                    "installed (pip install 'review[tracing]'); tracing stays off")
        return None
    named = os.environ.get("OTEL_SERVICE_NAME") or \
        "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    resource = Resource.create({} if named else {"service.name": "review"})
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))  # OTEL_BSP_*
    return provider


def _otlp_exporter() -> Any:
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    if protocol == "grpc":
        try:
            # Imported here: the gRPC exporter is optional (not in the tracing extra).
            return import_module(f"{EXPORTERS}.grpc.trace_exporter").OTLPSpanExporter()
        except ImportError:
            log.warning("OTLP protocol grpc asked for but opentelemetry-exporter-otlp-proto-"
                        "grpc is not installed; exporting over http/protobuf")
    # Imported here: only when tracing is on. Endpoint, headers, timeout, compression:
    # the OTEL_EXPORTER_OTLP_* variables.
    return import_module(f"{EXPORTERS}.http.trace_exporter").OTLPSpanExporter()


def enable(provider: Any) -> None:
    """Trace with `provider` in this process and instrument requests and redis (global).
    The app factory calls it from the environment; tests pass an in-memory provider."""
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # only when tracing is on
    from opentelemetry.instrumentation.requests import RequestsInstrumentor  # idem

    _state.provider = provider
    _state.tracer = provider.get_tracer(TRACER_NAME)
    _state.pid = os.getpid()
    for instrumentor in (RequestsInstrumentor(), RedisInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
            _state.global_instruments.append(instrumentor)


def disable() -> None:
    """Stop tracing in this process and take the global instrumentation off (tests)."""
    for instrumentor in _state.global_instruments:
        instrumentor.uninstrument()
    _state.global_instruments = []
    _state.provider = _state.tracer = _state.pid = None


def _instrument_app(app: Flask) -> None:
    from opentelemetry import metrics  # only when tracing is on
    from opentelemetry.instrumentation.flask import FlaskInstrumentor  # idem
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer  # idem

    if app.extensions.get("review.tracing"):
        return
    # The instrumentations ship no annotations (no-untyped-call).
    FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]
        app, tracer_provider=_state.provider)
    # One engine, not SQLAlchemyInstrumentor's global create_engine patch: each app's
    # engine exists already (init_db), and tests build several apps in one process.
    usage = metrics.get_meter("review.sqlalchemy").create_up_down_counter(
        "db.client.connections.usage", unit="connections")
    sa_tracer = _state.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    app.extensions["review.tracing"] = EngineTracer(  # type: ignore[no-untyped-call]
        sa_tracer, app.extensions["review.engine"], usage)


# --- Spans ---------------------------------------------------------------------------


def _identity(obj: Any) -> Any:
    state = sa_inspect(obj, raiseerr=False)
    identity = getattr(state, "identity", None)
    return identity[0] if identity else getattr(obj, "id", None)


def _item_attrs(item: Item) -> dict[str, Any]:
    """The item's id and queue, read without loading anything (no query in a span)."""
    loaded = sa_inspect(item).dict
    attrs: dict[str, Any] = {"review.item_id": loaded.get("id") or _identity(item)}
    if loaded.get("queue_id") is not None:
        attrs["review.queue_id"] = loaded["queue_id"]
    queue = loaded.get("queue")
    if queue is not None and sa_inspect(queue).dict.get("slug"):
        attrs["review.queue"] = sa_inspect(queue).dict["slug"]
    if loaded.get("status"):
        attrs["review.status"] = loaded["status"]
    return attrs


def _argument_attrs(arguments: dict[str, Any]) -> dict[str, Any]:
    """Attributes from the arguments a service function is called with, by name."""
    attrs: dict[str, Any] = {}
    for name, value in arguments.items():
        if name in ("item_id", "delivery_id") and isinstance(value, str | int):
            attrs[f"review.{name}"] = value
        elif name == "item" and isinstance(value, Item):
            attrs.update(_item_attrs(value))
        elif name == "queue" and sa_inspect(value, raiseerr=False) is not None:
            attrs["review.queue"] = sa_inspect(value).dict.get("slug")
            attrs["review.queue_id"] = _identity(value)
        elif name == "user" and sa_inspect(value, raiseerr=False) is not None:
            attrs["review.user_id"] = _identity(value)
    return {k: v for k, v in attrs.items() if v is not None}


def _describe_result(current: Any, result: Any, session: Session | None) -> None:
    """Item attributes (and the link to its ingest) from what the function returned."""
    item = result if isinstance(result, Item) else getattr(result, "item", None)
    if isinstance(item, Item):
        current.set_attributes(_item_attrs(item))
        if session is not None:
            _add_ingest_link(current, session, _item_attrs(item)["review.item_id"])
    path = getattr(result, "path", None)
    if isinstance(path, str):
        current.set_attribute("review.route", path)
    if isinstance(result, str):
        current.set_attribute("review.outcome", result)


class span:  # noqa: N801 - used like a function: `with span(...)`, `@span(...)`
    """A span named `name` with `attrs`, around a block or, as a decorator, around each
    call. Decorating also records the item id / queue / user / delivery id found among
    the arguments (by name) and the returned item, and links a returned item's span to
    its ingest. No-op (one test) when tracing is off."""

    def __init__(self, name: str, **attrs: Any) -> None:
        self.name = name
        self.attrs = attrs
        self._scope: Any = None

    def __enter__(self) -> Any:
        if _state.tracer is None:
            return None
        self._scope = _state.tracer.start_as_current_span(self.name, attributes=self.attrs)
        return self._scope.__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        if self._scope is not None:
            self._scope.__exit__(*exc_info)
            self._scope = None

    def __call__(self, func: F) -> F:
        signature = inspect.signature(func)
        name, static = self.name, self.attrs

        @functools.wraps(func)
        def traced(*args: Any, **kwargs: Any) -> Any:
            tracer = _state.tracer
            if tracer is None:
                return func(*args, **kwargs)
            arguments = signature.bind_partial(*args, **kwargs).arguments
            attrs = {**static, **_argument_attrs(arguments)}
            with tracer.start_as_current_span(name, attributes=attrs) as current:
                result = func(*args, **kwargs)
                session = arguments.get("session")
                _describe_result(current, result, session if isinstance(session, Session)
                                 else None)
                return result

        return traced  # type: ignore[return-value]


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None (tracing off, no span)."""
    if _state.tracer is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def ingest_trace() -> dict[str, str]:
    """What the `ingested` event keeps of the ingest's trace: {} when tracing is off."""
    traceparent = current_traceparent()
    return {INGEST_EVENT_KEY: traceparent} if traceparent else {}


def _ingest_traceparent(session: Session, item_id: str) -> str | None:
    # Its own short connection: never starts or joins the caller's transaction.
    with session.get_bind().engine.connect() as conn:
        data = conn.scalar(select(ItemEvent.data).where(
            ItemEvent.item_id == item_id, ItemEvent.kind == "ingested").limit(1))
    value = (data or {}).get(INGEST_EVENT_KEY) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _add_ingest_link(current: Any, session: Session, item_id: str) -> None:
    traceparent = _ingest_traceparent(session, item_id)
    if not traceparent:
        return
    ingest = trace.get_current_span(propagate.extract({"traceparent": traceparent}))
    context = ingest.get_span_context()
    if context.is_valid and context.trace_id != current.get_span_context().trace_id:
        current.add_link(context, {"review.link": "ingest", "review.item_id": item_id})


def link_item(session: Session, item_id: str | None) -> None:
    """Tag the current span with the item and link it to the item's ingest span."""
    if _state.tracer is None or not item_id:
        return
    current = trace.get_current_span()
    current.set_attribute("review.item_id", item_id)
    _add_ingest_link(current, session, item_id)


# --- RQ jobs -------------------------------------------------------------------------


def inject_job_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Add the current trace context to an RQ job's meta (unchanged when tracing is off)."""
    if _state.tracer is None or JOB_META_KEY in meta:
        return meta
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        meta[JOB_META_KEY] = carrier
    return meta


@contextmanager
def job_trace_context() -> Iterator[None]:
    """Inside an RQ job: a consumer span, child of the context the enqueuer sent."""
    if _state.tracer is None:
        yield
        return
    try:
        job = get_current_job()
    except Exception:  # noqa: BLE001 - outside a worker there is no job
        job = None
    if job is None:
        yield
        return
    carrier = (job.meta or {}).get(JOB_META_KEY)
    parent = propagate.extract(carrier) if isinstance(carrier, dict) else None
    attrs = {"messaging.system": "rq", "messaging.destination.name": job.origin,
             "messaging.message.id": job.id}
    try:
        with _state.tracer.start_as_current_span(f"job {job.func_name}", context=parent,
                                                 kind=SpanKind.CONSUMER, attributes=attrs):
            yield
    finally:
        if os.getpid() != _state.pid and hasattr(_state.provider, "force_flush"):
            # A forked work horse ends with os._exit: no exit hook would export its spans.
            _state.provider.force_flush()

