"""The web console in headless Chromium (docs/console.md), as the district's people use it:

- a unit user on a phone reports a problem with a photo; nobody accepts it in time, so it goes up to the
  line (layer 2); the line's service department sees it escalated on the battle map and on its desk,
  accepts it and assigns it to the resolving unit; the unit answers; the reporter sees the answer arrive
  in the inbox, live;
- a unit user who types the URL of another unit's project gets the not-found page (the API answers 404);
- every page loads with the demo data with no console error and no failed request, and its screenshot
  at 390×844 and 1440×900 is saved under ``test-artifacts/console/``;
- on a phone the navigation opens from one button with every item in sight, and closes with Escape;
- 重大项目办 registers a meeting matter with the keyboard-operable form; the resolving unit finds it on its
  desk (待我处理) with its working days left and acknowledges it (签收);
- the month-end supervision round proposes red cards: 督查室 reads the draft report, records a field check
  on a card and confirms it;
- 重大项目办 opens an account for a person of the directory, who signs in; once disabled they cannot.

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

from lkg.common.testing import eventually
from lkg.common.testing.console import (
    DEMO_PASSWORD,
    STORY_ACCOUNTS,
    STORY_PASSWORD,
    Served,
    add_story_accounts,
    chromium_path,
    login_headers,
    seed_demo,
    served,
    settle_long,
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
#: The demo accounts (seed_demo) and the story's unit and service-department accounts (add_story_accounts).
PASSWORDS = {
    **dict.fromkeys(("admin", "office", "supervision"), DEMO_PASSWORD),
    **dict.fromkeys(STORY_ACCOUNTS, STORY_PASSWORD),
}


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

    async def signed_in(
        self, viewport: dict[str, int], username: str, *, at: str = "#/map"
    ) -> tuple[Any, Watch]:
        """A new page at ``viewport``, signed in as ``username`` on the sign-in form, showing ``at`` (the
        console brings a person back to the page they asked for once they have signed in)."""
        page, watch = await self.page(viewport)
        await page.goto(f"{self.url}/{at}")
        await page.get_by_label("用户名").fill(username)
        await page.get_by_label("密码").fill(PASSWORDS[username])
        await page.get_by_role("button", name="登录").click()
        await page.locator("#nav a").first.wait_for(state="attached")  # folded behind the menu on a phone
        return page, watch


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
    ("meetings", "会议议定事项"),
    ("cards", "红牌"),
    ("rounds", "督查"),
    ("accounts", "账号管理"),
]


async def test_every_page_loads_with_the_demo_data_with_no_error_at_both_sizes(console: Console) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    project = await a_project_of(console, "金银湖街")
    pages = [*PAGES, (f"project/{project['id']}", project["name"])]
    for viewport in (PHONE, DESKTOP):
        page, watch = await console.signed_in(viewport, "admin")
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
    unit, unit_watch = await console.signed_in(PHONE, "jinyinhu", at="#/report")
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
    office, office_watch = await console.signed_in(DESKTOP, "kejingju")
    cell = office.locator(f".cell[data-project='{project['id']}']")
    await cell.wait_for()
    assert await cell.get_attribute("data-state") == "breached"
    assert await cell.inner_text() == "2"
    await office.screenshot(path=SCREENS / "story-2-battle-map-1440x900.png")
    await office.goto(f"{console.url}/#/desk")
    card = office.locator(f".matter[data-matter='{problem_id}']")
    await card.wait_for()
    assert "第二层" in await card.inner_text()
    # With the clock it must beat next and its working days left (the acceptance clock restarted at L2).
    assert re.search(r"受理时限：(剩 [0-9]+ 个工作日|今天到期)", await card.inner_text())
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
    answering, answering_watch = await console.signed_in(
        PHONE, "jinyinhu", at=f"#/matter/problems/{problem_id}"
    )
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
    page, watch = await console.signed_in(PHONE, "changqing", at=f"#/project/{own['id']}")
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


# ---- the phone's navigation ---------------------------------------------------------------------------


async def test_on_a_phone_the_navigation_opens_from_one_button_with_every_item_in_sight(
    console: Console,
) -> None:
    page, watch = await console.signed_in(PHONE, "admin")
    links = page.locator("#nav a")
    assert not await links.first.is_visible()  # folded
    menu = page.get_by_role("button", name=re.compile("^菜单"))
    await menu.focus()
    await page.keyboard.press("Enter")
    assert await menu.get_attribute("aria-expanded") == "true"
    await page.screenshot(path=SCREENS / "nav-open-390x844.png")
    names = await links.all_inner_texts()
    assert {"挂图作战", "会议议定事项", "红牌", "督查", "账号管理", "考评与通报"} <= {
        n.strip() for n in names
    }
    for i in range(await links.count()):
        box = await links.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (names[i], box)
        assert box["height"] >= 44, (names[i], box)
    # The page does not scroll sideways.
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.keyboard.press("Escape")
    assert await menu.get_attribute("aria-expanded") == "false"
    await menu.click()
    await page.get_by_role("link", name="红牌").click()
    await page.get_by_role("heading", level=1, name="红牌").wait_for()
    assert await menu.inner_text() == "菜单 · 红牌"
    assert not await links.first.is_visible()  # closed again after the move
    assert watch.problems == []
    await page.context.close()


# ---- meeting matters ----------------------------------------------------------------------------------


async def test_a_meeting_matter_is_registered_by_the_office_and_acknowledged_by_its_resolving_unit(
    console: Console,
) -> None:
    project = await a_project_of(console, "金银湖街")
    office, office_watch = await console.signed_in(DESKTOP, "office", at="#/meetings")
    await office.get_by_role("heading", level=2, name="登记会议议定事项").wait_for()
    await office.get_by_label("事项标题").fill("二期供水管网接入")
    await office.get_by_label("事项类别").select_option("水电气配套")
    await office.get_by_label("议定内容").fill("金银湖街会同区水务局完成二期供水管网接入。")
    await office.get_by_label("会议名称").fill("第二线包保领导专题协调会")
    await office.get_by_label("会议日期").fill("2020-05-06")
    await office.get_by_label("议定层级").select_option("2")
    await office.get_by_label("项目（可选）").select_option(project["id"])
    await office.get_by_label("问题解决单位").select_option(label="金银湖街")
    await office.get_by_label("办结时限").fill("2020-06-30")
    await office.screenshot(path=SCREENS / "meetings-register-1440x900.png", full_page=True)
    await office.get_by_role("button", name="登记").press("Enter")
    await office.wait_for_url(re.compile(r"#/matter/meeting-matters/"))
    matter_id = office.url.rsplit("/", 1)[1]
    await office.get_by_role("heading", level=1, name="二期供水管网接入").wait_for()
    assert "剩余工作日" in await office.locator("table.clocks").inner_text()
    await office.goto(f"{console.url}/#/meetings")
    await office.locator(f"tr[data-matter='{matter_id}']").wait_for()
    await office.screenshot(path=SCREENS / "meetings-list-1440x900.png")

    # 金银湖街, the resolving unit, finds it on its desk (待我处理) with its working days left, on a phone.
    unit, unit_watch = await console.signed_in(PHONE, "jinyinhu", at="#/desk")
    card = unit.locator(f".matter[data-matter='{matter_id}']")
    await card.wait_for()
    assert "会议议定事项" in await card.inner_text()
    assert re.search(r"剩 [0-9]+ 个工作日|今天到期", await card.inner_text())
    await unit.screenshot(path=SCREENS / "desk-meeting-390x844.png")
    await card.get_by_role("link", name="办理 →").click()
    await unit.get_by_label("签收意见（可选）").fill("已签收，按期办结")
    await unit.get_by_role("button", name="签收").click()
    await unit.locator("#matter-state", has_text="已交办").wait_for()
    matter = await api(console, "GET", f"/api/v1/meeting-matters/{matter_id}")
    assert (matter["state"], matter["resolving_unit_name"], matter["deciding_layer"]) == (
        "assigned",
        "金银湖街",
        2,
    )
    await unit.goto(f"{console.url}/#/meetings")
    await unit.locator(f"tr[data-matter='{matter_id}']").wait_for()
    await unit.screenshot(path=SCREENS / "meetings-390x844.png", full_page=True)
    for watch in (office_watch, unit_watch):
        assert watch.problems == []
    for page in (office, unit):
        await page.context.close()


# ---- accounts -----------------------------------------------------------------------------------------


async def test_the_office_opens_an_account_which_signs_in_and_cannot_once_disabled(console: Console) -> None:
    system = console.served.system
    admin = await login_headers(system, "admin", DEMO_PASSWORD)
    accounts = (await system.client.get("/api/v1/auth/accounts?limit=200", headers=admin)).json()["items"]
    taken = {a["person_id"] for a in accounts}
    people = await api(console, "GET", "/api/v1/org/people")
    person = sorted((p for p in people if p["id"] not in taken), key=lambda p: p["name"])[0]

    office, watch = await console.signed_in(PHONE, "office", at="#/accounts")
    await office.get_by_label("人员（组织目录）").select_option(person["id"])
    await office.get_by_label("用户名").fill("console-newcomer")
    await office.get_by_label("初始密码").fill("newcomer-2020-pass")
    await office.get_by_role("button", name="开通账号").click()
    row = office.locator("tr[data-account='console-newcomer']")
    await row.wait_for()
    await office.screenshot(path=SCREENS / "accounts-390x844.png", full_page=True)

    signed = await system.client.post(
        "/api/v1/auth/login", json={"username": "console-newcomer", "password": "newcomer-2020-pass"}
    )
    assert signed.status_code == 200, signed.text

    await row.get_by_role("button", name="停用").click()
    await office.locator("#account-status", has_text="console-newcomer：已停用").wait_for()
    await office.locator("tr[data-account='console-newcomer']", has_text="已停用").wait_for()
    refused = await system.client.post(
        "/api/v1/auth/login", json={"username": "console-newcomer", "password": "newcomer-2020-pass"}
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "account_disabled")
    assert watch.problems == []
    await office.context.close()


# ---- the month-end round and its red cards (moves the clock to the month's last week: runs last) --------


async def test_the_month_end_round_proposes_cards_which_the_supervision_office_checks_and_confirms(
    console: Console,
) -> None:
    system = console.served.system
    moved = await system.client.post(
        "/api/v1/dev/clock", json={"set": "2020-05-26T09:00:00+08:00"}, headers=system.operator
    )
    # On a loaded machine a service may still be catching up when the answer comes: wait for it.
    assert moved.status_code == 200 or moved.json()["code"] == "clock_not_settled", moved.text
    await settle_long(system)
    proposed = await eventually(lambda: _proposed_cards(console))
    rounds = await api(console, "GET", "/api/v1/supervision-rounds")
    round_id = rounds["items"][0]["id"]

    for viewport in (PHONE, DESKTOP):
        size = f"{viewport['width']}x{viewport['height']}"
        page, watch = await console.signed_in(viewport, "supervision", at="#/rounds")
        await page.locator(f"[data-round='{round_id}'] a").click()
        await page.locator("#report-state", has_text="草稿").wait_for()
        await page.screenshot(path=SCREENS / f"round-report-{size}.png")
        await page.goto(f"{console.url}/#/cards?state=proposed")
        await page.locator(f"tr[data-card='{proposed[0]['id']}']").wait_for()
        await page.screenshot(path=SCREENS / f"cards-{size}.png")
        assert watch.problems == []
        await page.context.close()

    # 督查室 checks one on the spot (暗访) and confirms it; the register shows it issued.
    card = proposed[0]
    page, watch = await console.signed_in(DESKTOP, "supervision", at=f"#/cards/{card['id']}")
    await page.get_by_label("核查方式").select_option("unannounced_visit")
    await page.get_by_label("核查情况").fill("现场无施工人员，项目未实质性推进。")
    await page.get_by_role("button", name="记录核查").click()
    await page.locator("li", has_text="暗访：现场无施工人员").wait_for()
    await page.get_by_role("button", name="确认发出红牌").click()
    await page.locator("#card-state", has_text="已发出").wait_for()
    await page.screenshot(path=SCREENS / "card-issued-1440x900.png", full_page=True)
    issued = await api(console, "GET", f"/api/v1/red-cards/{card['id']}")
    assert (issued["state"], len(issued["field_checks"])) == ("issued", 1)
    assert watch.problems == []
    await page.context.close()


async def _proposed_cards(console: Console) -> list[dict[str, Any]]:
    cards = await api(console, "GET", "/api/v1/red-cards?state=proposed")
    assert cards["items"], "no proposed card yet"
    return cards["items"]
