"""Focal's loggers without Focal configuring logging: stdlib `logging` when structlog is unconfigured,
the host's structlog pipeline otherwise; Focal's bound context is on every event either way."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from focal.logging import bind_context, get_logger


@pytest.fixture(autouse=True)
def _structlog_as_found() -> Iterator[None]:
    saved, was_configured = structlog.get_config(), structlog.is_configured()
    structlog.reset_defaults()
    yield
    if was_configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


def test_unconfigured_structlog_logs_through_stdlib_logging(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("focal.test")
    caplog.set_level(logging.INFO, logger="focal.test")
    with bind_context(tenant_id="acme", step="generation"):
        log.info("llm_call", tenant_id="other", model="openai/gpt-4o", cost_usd="0.1 USD")
        log.debug("dropped")
    assert log.is_enabled_for(logging.INFO) and not log.is_enabled_for(logging.DEBUG)
    (record,) = caplog.records
    assert (record.name, record.levelno) == ("focal.test", logging.INFO)
    assert record.getMessage() == 'llm_call tenant_id=acme model=openai/gpt-4o cost_usd="0.1 USD" step=generation'
    assert not structlog.is_configured()


def test_unconfigured_exceptions_reach_the_stdlib_handler(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("focal.test").exception("failed")
    (record,) = caplog.records
    assert record.getMessage() == "failed" and record.exc_info and record.exc_info[0] is RuntimeError


def test_a_hosts_structlog_configuration_is_followed() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    log = get_logger("focal.test")
    structlog.contextvars.bind_contextvars(tenant_id="host", request_id="r1")
    try:
        with capture_logs() as events, bind_context(tenant_id="acme"):
            log.warning("budget_limit_warning", scope="run")
    finally:
        structlog.contextvars.unbind_contextvars("tenant_id", "request_id")
    assert events == [{"event": "budget_limit_warning", "scope": "run", "tenant_id": "acme", "log_level": "warning"}]


def test_is_enabled_for_follows_a_hosts_stdlib_wrapper() -> None:
    structlog.configure(wrapper_class=structlog.stdlib.BoundLogger, logger_factory=structlog.stdlib.LoggerFactory())
    logging.getLogger("focal.level").setLevel(logging.ERROR)
    try:
        log = get_logger("focal.level")
        assert log.is_enabled_for(logging.ERROR) and not log.is_enabled_for(logging.WARNING)
    finally:
        logging.getLogger("focal.level").setLevel(logging.NOTSET)
