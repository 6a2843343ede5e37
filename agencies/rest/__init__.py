"""REST front ends of the construction-permit and tax simulators (PROTOCOL.md).

Pages are assembled from the store's pre-serialised JSON, so serving a page costs little more than
reading it; request faults are applied by one small layer (`agencies.rest.common.with_faults`).
"""

from agencies.rest.app import build_rest_app

__all__ = ["build_rest_app"]
