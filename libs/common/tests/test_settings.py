"""Settings: environment variables (12-factor), placeholder secrets refused outside development."""

from __future__ import annotations

from typing import Any

import pytest

from lkg.common.settings import PLACEHOLDER_SECRET, ServiceSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in (
        "LKG_ENV",
        "LKG_JWT_SECRET",
        "LKG_JWT_JWKS_URL",
        "LKG_CLOCK",
        "DATABASE_URL",
        "NATS_URL",
        "LKG_DATABASE_URL",
        "LKG_NATS_URL",
        "LKG_NATS_PREFIX",
    ):
        monkeypatch.delenv(key, raising=False)


def test_development_runs_on_the_placeholder_secret():
    settings = ServiceSettings()
    assert settings.env == "development"
    assert settings.jwt_secret.get_secret_value() == PLACEHOLDER_SECRET
    assert "change-me" not in repr(settings)  # secrets never print


def test_production_refuses_the_placeholder_secret(monkeypatch):
    monkeypatch.setenv("LKG_ENV", "production")
    with pytest.raises(ValueError, match="placeholder"):
        ServiceSettings()


def test_production_refuses_a_short_secret(monkeypatch):
    monkeypatch.setenv("LKG_ENV", "production")
    monkeypatch.setenv("LKG_JWT_SECRET", "too-short")
    with pytest.raises(ValueError, match="at least 32"):
        ServiceSettings()


def test_production_accepts_a_jwks_url_instead_of_a_secret(monkeypatch):
    monkeypatch.setenv("LKG_ENV", "production")
    monkeypatch.setenv(
        "LKG_JWT_JWKS_URL", "https://sso.example.gov.cn/realms/lkg/protocol/openid-connect/certs"
    )
    assert ServiceSettings().jwt_jwks_url.endswith("/certs")


def test_production_refuses_the_simulated_clock(monkeypatch):
    monkeypatch.setenv("LKG_ENV", "production")
    monkeypatch.setenv("LKG_JWT_SECRET", "s" * 48)
    monkeypatch.setenv("LKG_CLOCK", "simulated")
    with pytest.raises(ValueError, match="simulated clock"):
        ServiceSettings()


def test_operators_urls_come_from_the_usual_variables(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://lkg@db/lkg_issues")
    monkeypatch.setenv("NATS_URL", "nats://nats:4222")
    monkeypatch.setenv("LKG_NATS_PREFIX", "staging")
    settings = ServiceSettings()
    assert (settings.database_url, settings.nats_url, settings.nats_prefix) == (
        "postgresql://lkg@db/lkg_issues",
        "nats://nats:4222",
        "staging",
    )


def test_the_dev_clock_endpoint_exists_only_on_simulated_time():
    assert not ServiceSettings().dev_endpoints_enabled
    assert ServiceSettings(clock="simulated").dev_endpoints_enabled


class _QuickScans(ServiceSettings):
    """A service whose scans run more often than the common default (as the notifier's do)."""

    service_name: str = "quick"
    scan_interval_seconds: float = 2.0


def test_a_service_keeps_its_own_default_of_a_common_setting_unless_the_deployment_gave_one(monkeypatch):
    """``settings_for`` carries over only what the common settings were given: a service's own default scan
    interval (2 s) is not replaced by the common default (30 s), but a value the deployment set is used by
    every service."""
    from types import SimpleNamespace

    from lkg.common.runtime.app import settings_for

    spec: Any = SimpleNamespace(name="quick", settings_cls=_QuickScans)
    monkeypatch.delenv("LKG_SCAN_INTERVAL_SECONDS", raising=False)
    assert ServiceSettings().scan_interval_seconds == 30.0
    assert settings_for(spec, ServiceSettings()).scan_interval_seconds == 2.0
    assert settings_for(spec, ServiceSettings(scan_interval_seconds=7)).scan_interval_seconds == 7.0
    monkeypatch.setenv("LKG_SCAN_INTERVAL_SECONDS", "9")
    given = settings_for(spec, ServiceSettings(), database_url="postgresql:///lkg_quick")
    assert (given.scan_interval_seconds, given.service_name, given.database_url) == (
        9.0,
        "quick",
        "postgresql:///lkg_quick",
    )
