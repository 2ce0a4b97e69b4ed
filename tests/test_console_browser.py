"""The web console in headless Chromium (docs/console.md), as the district's people use it:

- a unit user on a phone reports a problem with a photo; nobody accepts it in time, so it goes up to the
  line (layer 2); the line's service department sees it escalated on the battle map and on its desk,
  accepts it and assigns it to the resolving unit; the unit answers; the reporter sees the answer arrive
  in the inbox, live;
- a unit user who types the URL of another unit's project gets the not-found page (the API answers 404);
- every page loads with the demo data with no console error and no failed request, and its screenshot
  at 390×844 and 1440×900 is saved under ``test-artifacts/console/``.

Skipped, saying why, where there is no Chromium or no Playwright (``.ci/run`` installs both).
"""

from __future__ import annotations

import base64
import itertools
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from lkg.common.testing.console import (
    DEMO_PASSWORD,
    STORY_PASSWORD,
    Served,
    add_story_accounts,
    chromium_path,
    login_headers,
    seed_demo,
    served,
)
from lkg.common.testing.system import running_system

CHROMIUM, WHY_NOT = chromium_path()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"browser tests skipped: {WHY_NOT}")

ARTIFACTS = Path(os.environ.get("LKG_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
SCREENS = ARTIFACTS / "console"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
#: A 2×2 PNG, the "photo from the site".
PHOTO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)
_n = itertools.count(1)


@dataclass
class Watch:
    """What went wrong on a page: console errors, uncaught errors, failed or refused requests."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} {r.url}"))

    def _failed(self, request: Any) -> None:
        # The inbox's live stream is aborted on purpose when the person leaves the page.
        if "/api/v1/inbox/stream?" in request.url and "ERR_ABORTED" in (request.failure or ""):
            return
        self.problems.append(f"request failed: {request.url} {request.failure}")


@dataclass
class Console:
    served: Served
    browser: Any

    @property
    def url(self) -> str:
        return self.served.base_url

    async def page(self, viewport: dict[str, int]) -> tuple[Any, Watch]:
        context = await self.browser.new_context(
            viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        page = await context.new_page()
        watch = Watch()
        watch.attach(page)
        return page, watch

    async def sign_in(self, page: Any, username: str, password: str, then: str = "#/map") -> None:
        await page.goto(f"{self.url}/{then}")
        await page.get_by_label("用户名").fill(username)
        await page.get_by_label("密码").fill(password)
        await page.get_by_role("button", name="登录").click()
        await page.locator("#nav a").first.wait_for()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def console(db_factory, nats_url: str, nats_prefix: str) -> AsyncIterator[Console]:
    from playwright.async_api import async_playwright

    async with running_system(
        db_factory=db_factory, nats_url=nats_url, prefix=f"{nats_prefix}web{next(_n)}"
    ) as system:
        await seed_demo(system)
        await add_story_accounts(system)
        async with served(system) as site, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM)
            try:
                yield Console(site, browser)
            finally:
                await browser.close()


async def api(console: Console, method: str, path: str, **kwargs: Any) -> Any:
    response = await console.served.system.client.request(
        method, path, headers=console.served.system.operator, **kwargs
    )
    assert response.status_code < 300, response.text
    return response.json()


async def a_project_of(console: Console, unit: str) -> dict[str, Any]:
    units = await api(console, "GET", "/api/v1/org/units")
    unit_id = next(u["id"] for u in units if u["name"] == unit)
    page = await api(console, "GET", f"/api/v1/projects?responsible_unit_id={unit_id}&limit=200")
    # One on the unit's own line (a real-estate or farming project of the street is on line 6 or 7).
    routed = [p for p in page["items"] if p["routing_basis"] == "responsible_unit"]
    return sorted(routed, key=lambda p: p["name"])[0]


# ---- every page, both sizes --------------------------------------------------------------------------

PAGES = [
    ("map", "挂图作战"),
    ("dispatch", "日调度"),
    ("showcase", "比晒亮 · 进度晾晒"),
    ("desk", "我的工作台"),
    ("report", "反映问题"),
    ("inbox", "消息"),
    ("evaluations", "考评与通报"),
]


async def test_every_page_loads_with_the_demo_data_with_no_error_at_both_sizes(console: Console) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    project = await a_project_of(console, "金银湖街")
    pages = [*PAGES, (f"project/{project['id']}", project["name"])]
    for viewport in (PHONE, DESKTOP):
        page, watch = await console.page(viewport)
        await console.sign_in(page, "admin", DEMO_PASSWORD)
        for route, heading in pages:
            await page.goto(f"{console.url}/#/{route}")
            try:
                await page.locator(".view[data-ready]").wait_for()
                await page.get_by_role("heading", level=1, name=heading).wait_for()
            except Exception as exc:
                main = await page.locator("main").inner_text()
                raise AssertionError(f"#/{route}: {main[:300]!r} {watch.problems}") from exc
            name = route.split("/")[0]
            await page.screenshot(path=SCREENS / f"{name}-{viewport['width']}x{viewport['height']}.png")
        assert watch.problems == [], f"{viewport}: {watch.problems}"
        await page.context.close()
    # The sign-in page too, before anyone signs in.
    for viewport in (PHONE, DESKTOP):
        page, watch = await console.page(viewport)
        await page.goto(f"{console.url}/")
        await page.get_by_role("button", name="登录").wait_for()
        await page.screenshot(path=SCREENS / f"login-{viewport['width']}x{viewport['height']}.png")
        assert watch.problems == []
        await page.context.close()


# ---- the story of a problem ---------------------------------------------------------------------------


async def test_a_problem_reported_from_a_phone_goes_up_is_accepted_assigned_and_answered(
    console: Console,
) -> None:
    system = console.served.system
    project = await a_project_of(console, "金银湖街")

    # 1. The unit user (金银湖街) reports a problem with a photo from the site, on a phone.
    unit, unit_watch = await console.page(PHONE)
    await console.sign_in(unit, "jinyinhu", STORY_PASSWORD, then="#/report")
    await unit.goto(f"{console.url}/#/report")
    await unit.get_by_label("项目").select_option(project["id"])
    await unit.get_by_label("问题标题").fill("施工用电接入迟迟未落实")
    await unit.get_by_label("问题类别").select_option("水电气配套")
    await unit.get_by_label("情况说明").fill("项目已具备开工条件，施工临时用电报装一个月未批复。")
    await unit.get_by_label("现场照片（可多张）").set_input_files(
        files=[{"name": "现场.png", "mimeType": "image/png", "buffer": PHOTO}]
    )
    await unit.get_by_role("button", name="提交").click()
    await unit.wait_for_url(re.compile(r"#/matter/problems/"))
    problem_id = unit.url.rsplit("/", 1)[1]
    await unit.locator(".photos img[alt='现场.png']").wait_for()
    await unit.screenshot(path=SCREENS / "story-1-reported-390x844.png", full_page=True)
    matter = await api(console, "GET", f"/api/v1/problems/{problem_id}")
    assert (matter["state"], matter["layer"], matter["project_id"]) == ("reported", 1, project["id"])

    # 2. Nobody accepts it within the acceptance limit (1 working day; 2020-05-01..05 is the May Day
    #    holiday): two working days on, it has gone up to line 2 (layer 2).
    await system.move_clock(working_days=2)
    matter = await api(console, "GET", f"/api/v1/problems/{problem_id}")
    assert matter["layer"] == 2
    assert [c["state"] for c in matter["clocks"] if c["kind"] == "acceptance" and c["layer"] == 1] == [
        "breached"
    ]

    # 3. Line 2's service department (区科经局) sees it escalated on the battle map and on its desk.
    office, office_watch = await console.page(DESKTOP)
    await console.sign_in(office, "kejingju", STORY_PASSWORD)
    cell = office.locator(f".cell[data-project='{project['id']}']")
    await cell.wait_for()
    assert await cell.get_attribute("data-state") == "breached"
    assert await cell.inner_text() == "2"
    await office.screenshot(path=SCREENS / "story-2-battle-map-1440x900.png")
    await office.goto(f"{console.url}/#/desk")
    card = office.locator(f".matter[data-matter='{problem_id}']")
    await card.wait_for()
    assert "第二层" in await card.inner_text()
    await office.screenshot(path=SCREENS / "story-3-desk-1440x900.png")

    # 4. It accepts it, then assigns it to 金银湖街, the resolving unit.
    await card.get_by_role("link", name="办理 →").click()
    await office.get_by_role("button", name="受理").click()
    await office.locator("#matter-state", has_text="已受理").wait_for()
    await office.get_by_label("解决单位").select_option(label="金银湖街")
    await office.get_by_role("button", name="交办").click()
    await office.locator("#matter-state", has_text="已交办").wait_for()
    matter = await api(console, "GET", f"/api/v1/problems/{problem_id}")
    assert (matter["state"], matter["resolving_unit_name"]) == ("assigned", "金银湖街")

    # 5. The reporter keeps the inbox open; the unit answers (another tab); the answer arrives live.
    await unit.goto(f"{console.url}/#/inbox")
    await unit.locator(".live", has_text="实时").wait_for()
    answering, answering_watch = await console.page(PHONE)
    await console.sign_in(answering, "jinyinhu", STORY_PASSWORD)
    await answering.goto(f"{console.url}/#/matter/problems/{problem_id}")
    await answering.get_by_label("处理意见（3个工作日内答复）").fill(
        "已协调供电公司，本周内完成临时用电接入。"
    )
    await answering.get_by_role("button", name="答复").click()
    await answering.locator("#matter-state", has_text="已答复").wait_for()
    await system.settle()
    reporter = await login_headers(system, "jinyinhu", STORY_PASSWORD)
    inbox = (await system.client.get("/api/v1/inbox/messages", headers=reporter)).json()["items"]
    assert "【已反馈】问题：施工用电接入迟迟未落实" in [m["title"] for m in inbox], [
        m["title"] for m in inbox
    ]
    answer = unit.locator(".message", has_text="【已反馈】问题：施工用电接入迟迟未落实")
    await answer.wait_for(timeout=20000)
    assert "本周内完成临时用电接入" in await answer.inner_text()
    await unit.screenshot(path=SCREENS / "story-4-inbox-390x844.png")

    for watch in (unit_watch, office_watch, answering_watch):
        assert watch.problems == []
    for page in (unit, office, answering):
        await page.context.close()


async def test_a_unit_user_cannot_open_another_units_project_by_typing_its_url(console: Console) -> None:
    theirs = await a_project_of(console, "金银湖街")
    own = await a_project_of(console, "长青街")
    page, watch = await console.page(PHONE)
    await console.sign_in(page, "changqing", STORY_PASSWORD)

    await page.goto(f"{console.url}/#/project/{own['id']}")
    await page.get_by_role("heading", level=1, name=own["name"]).wait_for()

    await page.goto(f"{console.url}/#/project/{theirs['id']}")
    await page.locator("#not-found").wait_for()
    assert theirs["name"] not in await page.content()
    await page.screenshot(path=SCREENS / "story-5-not-found-390x844.png")
    # The API refused it as it refuses a project that does not exist: 404, nothing else.
    assert watch.problems == [
        f"HTTP 404 {console.url}/api/v1/projects/{theirs['id']}",
        "console: Failed to load resource: the server responded with a status of 404 (Not Found)",
    ]
    await page.context.close()
