"""Agencies: simulators of the four agency systems, for development, demos, tests and benchmarks.

Belongs here: the land registry and business registration (SOAP 1.1 + WSDL), construction permits and
tax (REST + OpenAPI), their seeded linked data, clocks, change feeds, auth and faults. The wire
protocol they serve is `agencies/PROTOCOL.md`.

Does not belong here: anything lienthong itself needs in production. Nothing outside `agencies/`, the demo,
`tests/` and `bench/` imports this package.
"""
