"""Normalisation functions used by the contracts' mappings.

Each takes Arrow arrays and returns a `Normalized`: the values, and per row either null (fine) or
a short reason code (`bad_check_digit`, `unknown_commune`, ...). A null input is a null output and
never an error: required values are the expectations' business (not-null), not the mapping's.
"""

from schemas.normalize.result import Normalized

__all__ = ["Normalized"]
