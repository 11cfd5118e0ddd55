"""Every typed key the application stores, in one place so handlers agree on types."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from trafficmon.state import Accountant
from trafficmon.web.config import ServiceConfig
from trafficmon.web.live.hub import Hub
from trafficmon.web.live.source import SnapshotSource
from trafficmon.web.live.tickbuilds import TickBuilds
from trafficmon.web.routes.form_refusals import Refusals
from trafficmon.web.security.credentials import Credentials

CONFIG_KEY = web.AppKey("config", ServiceConfig)
CREDENTIALS_KEY = web.AppKey("credentials", Credentials)
SOURCE_KEY = web.AppKey("source", SnapshotSource)
ACCOUNTANT_KEY = web.AppKey("accountant", Accountant)
HUB_KEY = web.AppKey("hub", Hub)
OPENAPI_KEY = web.AppKey[dict[str, Any]]("openapi")
REGISTRY_KEY = web.AppKey("metrics_registry", CollectorRegistry)
REFUSALS_KEY = web.AppKey("adjust_form_refusals", Refusals)
TICK_BUILDS_KEY = web.AppKey("tick_builds", TickBuilds)
