"""The operations dashboard: the bus at a glance for operators, served by the lookup API under /ops.

`sharing.ops.routes.mount(app)` adds it to an app; `create_app` does so. See routes.py for the pages and
auth.py for operators, sessions and CSRF.
"""
