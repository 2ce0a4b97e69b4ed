"""``lkg simulate``: months of the district's life driven through the public HTTP API (issue #18).

Each action is taken by a persona with its own account (a unit's staff, a line's service department, a line
leader, 重大项目办, 审批局, 统计局, 督查室, a top leader, the assessor); the shared simulated clock moves one
working day at a time on the official calendar. The same seed gives the same run and the same summary.
See docs/simulate.md.
"""

from lkg.common.simulate.options import MIXES, Mix, Options
from lkg.common.simulate.run import NotSimulated, Simulation
from lkg.common.simulate.summary import Summary

__all__ = ["MIXES", "Mix", "NotSimulated", "Options", "Simulation", "Summary"]
