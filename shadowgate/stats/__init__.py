"""Anytime-valid sequential tests and confidence sequences (pure numpy/scipy).

Every test exposes ``update(...)``, ``n``, ``p_value`` (always valid: the chance it ever
falls below alpha under the null is at most alpha, however often it is read), ``e_value``,
``reject(alpha)``, ``estimate``, ``confidence_interval(alpha)``, ``to_dict()`` and
``from_dict()``. One-sided semantics are documented in each module; in short,
``alternative="greater"`` proves candidate - production > margin and ``"less"`` proves
candidate - production < margin.
"""

from shadowgate.stats.bounded import BoundedMeanCS
from shadowgate.stats.count_share import CountShareTest
from shadowgate.stats.family import FamilyResult, TestFamily
from shadowgate.stats.interleaved import InterleavedMeanTest
from shadowgate.stats.interleaved_two_sample import InterleavedTwoSampleTest
from shadowgate.stats.paired import PairedMeanTest
from shadowgate.stats.sign import SignTest
from shadowgate.stats.two_sample import TwoSampleMeanTest

__all__ = [
    "BoundedMeanCS",
    "CountShareTest",
    "FamilyResult",
    "InterleavedMeanTest",
    "InterleavedTwoSampleTest",
    "PairedMeanTest",
    "SignTest",
    "TestFamily",
    "TwoSampleMeanTest",
]
