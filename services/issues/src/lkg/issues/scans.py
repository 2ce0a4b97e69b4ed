"""What the issues service does on the clock, in this order: signals first (a problem they open starts its
clocks at the signal's time), then the clocks (warnings, breaches, escalations), then the month-end round
(which reads overdue meeting matters)."""

from __future__ import annotations

from lkg.common.runtime.service import Scan
from lkg.issues.matters.clocks import scan_clocks
from lkg.issues.matters.signals import scan_signals
from lkg.issues.supervision.rounds import scan_rounds

SCANS = [Scan("signals", scan_signals), Scan("clocks", scan_clocks), Scan("supervision", scan_rounds)]
