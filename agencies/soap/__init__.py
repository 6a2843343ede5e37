"""SOAP 1.1 front ends of the land registry and business registration simulators.

`build_app(sim)` serves `/ws/land` or `/ws/business` (and `?wsdl`) for a `Simulator` (agencies/base.py);
`routes(sim)` gives the same routes to an app that adds its own. The serialisers in
`agencies.soap.render` are plain functions (records in, bytes out) for benchmarks.
"""

from __future__ import annotations

from agencies.soap.app import build_app, routes, wsdl_for
from agencies.soap.render import render_codes, render_fault, render_response
from agencies.soap.services import SERVICES

__all__ = ["SERVICES", "build_app", "render_codes", "render_fault", "render_response", "routes", "wsdl_for"]
