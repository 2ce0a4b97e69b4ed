"""The weekly report's workbook is the same bytes whenever the same week is rendered (issue #4: "the same
week rendered twice gives the same content"): its document properties and zip entry times carry the
report's own instant, not the wall clock at rendering."""

from __future__ import annotations

import io
import re
import time
import uuid
import zipfile
from datetime import date, datetime

from lkg.approvals import schemas
from lkg.approvals.reports.service import REPORT_COLUMNS
from lkg.approvals.reports.workbook import weekly_report_xlsx
from lkg.common.clock import TZ
from lkg.common.testing import eventually

AS_OF = datetime(2020, 5, 8, 9, 30, tzinfo=TZ)  # Friday 8 May 2020, 09:30 in Wuhan = 01:30 UTC


def report() -> schemas.WeeklyReport:
    cells = {
        column: schemas.ReportCell(item_name=None, state=None, mode=None, on=None)
        for column in REPORT_COLUMNS
    }
    cells[REPORT_COLUMNS[0]] = schemas.ReportCell(
        item_name=REPORT_COLUMNS[0], state="granted", mode="commitment", on=date(2020, 5, 6)
    )
    row = schemas.ReportRow(
        project_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
        project_name="临空港测试项目",
        project_class="new_start",
        fast_track=True,
        modes=["commitment"],
        cells=cells,
    )
    return schemas.WeeklyReport(
        report_day=date(2020, 5, 8), as_of=AS_OF, columns=list(REPORT_COLUMNS), rows=[row]
    )


async def test_same_week_rendered_at_two_wall_clock_times_is_byte_identical() -> None:
    first = weekly_report_xlsx(report())
    # Wait until the wall clock has passed a whole second (the resolution of the times a workbook carries).
    rendered_in = int(time.time())
    await eventually(lambda: int(time.time()) > rendered_in, what="the next wall-clock second")
    second = weekly_report_xlsx(report())
    assert first[:2] == b"PK"
    assert first == second


def test_workbook_times_are_the_reports_own() -> None:
    data = weekly_report_xlsx(report())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        core = archive.read("docProps/core.xml").decode()
        times = {info.date_time for info in archive.infolist()}
    stamps = dict(re.findall(r"<dcterms:(created|modified)[^>]*>([^<]*)</dcterms:", core))
    assert stamps == {"created": "2020-05-08T01:30:00Z", "modified": "2020-05-08T01:30:00Z"}
    assert times == {(2020, 5, 8, 9, 30, 0)}  # zip entries in local time (the zip format has no zone)


def test_a_different_report_instant_gives_different_bytes() -> None:
    later = report().model_copy(update={"as_of": datetime(2020, 5, 15, 9, 30, tzinfo=TZ)})
    assert weekly_report_xlsx(report()) != weekly_report_xlsx(later)
