"""The synthetic 2020 demo portfolio: 245 projects, labelled 【演示】, matching the policy's
numbers.

The policy (武临开办〔2020〕2号) gives the totals but not the projects: 245 major industrial projects
(§一(三)), 86 planned new-starts and 44 preliminary projects, all of them on the 批前提速 track
(§四(二)), 15 of them provincial/municipal (§三(三)). Everything else here is invented,
deterministically (a seeded random generator, the same portfolio on every machine), so a demo and a
test see the same register:

* **who and where** come from :data:`GROUPS`: per responsible unit and category, how many projects of
  each class. The lines then follow from the real routing rules of ``data/org_2020.yaml`` (§二(二)):
  every real-estate project on line 6, every agricultural one on line 7, each street or office on its
  line; some projects are named explicitly (line 1's 2019 list and its part of 机电产业办's projects;
  line 8's not-yet-landed attracted projects), and the rest of 机电产业办's projects stay **unrouted**
  for 重大项目办;
* **how big**: total investment drawn log-normally per category (most projects 亿元以上, agricultural
  ones mostly below), rounded to 万元; the year's planned investment a share of it by class;
* **what is planned**: milestones (洽谈, 签约, 缴纳土地保证金, 进资, 开工, 竣工, 投产, 达产) by
  class, dated around 2020-05-01; those already past carry an actual date, except a few left open
  (reported missed on the demo's first scan, as a slipped plan would be);
* **project codes** in the national platform's earlier hyphenated 24-character form
  ``YYYY-420112-II-TT-NNNNNN`` (year, 东西湖区, GB/T 4754 industry division, ``02`` 核准 / ``03``
  备案, serial) for projects filed before 2020-05 (continuing, completing and most new-starts);
  preliminary projects have none yet. The compact GB/T 40058-2021 form is not generated: its check
  character cannot be computed here (see :mod:`lkg.registry.projects.projectcode`), and a made-up one would
  look real.

:func:`generate` is pure; :mod:`lkg.registry.seed` registers the result through the registry's use
cases, so ``project.registered`` / ``project.changed`` reach every other service.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from lkg.common.events.contracts import (
    ApprovalType,
    MilestoneType,
    ProjectCategory,
    ProjectClass,
    RoutingBasis,
    RoutingRuleSnapshot,
)
from lkg.registry.org.document import line_key, org_id
from lkg.registry.projects.schemas import MilestonePlan, ProjectCreate

#: The day the policy was issued and the demo's clock starts (docs/time.md): plans are dated around it.
PLAN_DAY = date(2020, 5, 1)
PLAN_YEAR = 2020
#: The seed of the generator: change it and the whole portfolio changes (tests pin its numbers).
SEED = 20200501
LABEL = "【演示】"

P, N, C, D = (
    ProjectClass.PRELIMINARY,
    ProjectClass.NEW_START,
    ProjectClass.CONTINUING,
    ProjectClass.COMPLETING,
)
IND, SRV, EST, AGR = (
    ProjectCategory.INDUSTRIAL,
    ProjectCategory.SERVICES,
    ProjectCategory.REAL_ESTATE,
    ProjectCategory.AGRICULTURAL,
)


@dataclass(frozen=True)
class Assignment:
    """An explicit line assignment the plan names (明确指定包保线, §二(二)1 and 8)."""

    line: int
    note: str


#: §二(二)1: 2019年已明确由区委常委徐贻功包保协调推进的重点产业项目.
LINE1_2019 = Assignment(1, "§二(二)1 2019年已明确由徐贻功包保协调推进的重点产业项目")
#: §二(二)1: 机电产业办2020年部分续建和计划新开工项目.
LINE1_ELECTROMECHANICAL = Assignment(1, "§二(二)1 机电产业办2020年部分续建和计划新开工项目")
#: §二(二)8: 部分街道产业办招商引资还未落地的前期项目.
LINE8_NOT_LANDED = Assignment(8, "§二(二)8 街道产业办招商引资还未落地的前期项目")


@dataclass(frozen=True)
class Group:
    """``counts`` projects of one responsible unit and category, by class (前期, 新开工, 续建, 完工投产)."""

    unit: str
    category: ProjectCategory
    counts: tuple[int, int, int, int]
    assignment: Assignment | None = None


#: Who is responsible for what (sums: 245 projects, 44 preliminary, 86 new-starts, 94 continuing, 21
#: completing). The streets and offices are those of policy §二(二); the split among them is invented.
GROUPS: tuple[Group, ...] = (
    # line 1: 新沟镇街; the 2019 list and part of 机电产业办's projects by explicit assignment
    Group("street.xingou", IND, (3, 6, 5, 2)),
    Group("street.xingou", AGR, (1, 1, 1, 0)),
    Group("street.zoumaling", IND, (0, 0, 2, 0), LINE1_2019),
    Group("street.changqing", IND, (0, 0, 1, 0), LINE1_2019),
    Group("street.jinyinhu", SRV, (0, 0, 1, 0), LINE1_2019),
    Group("office.airport", IND, (0, 0, 1, 0), LINE1_2019),
    Group("office.electromechanical", IND, (0, 4, 5, 0), LINE1_ELECTROMECHANICAL),
    # the rest of 机电产业办's projects: no rule covers them (unrouted, for 重大项目办 to settle)
    Group("office.electromechanical", IND, (1, 1, 2, 1)),
    # line 2: 金银湖街, 临空产业办
    Group("street.jinyinhu", IND, (3, 7, 5, 1)),
    Group("street.jinyinhu", SRV, (1, 2, 3, 1)),
    Group("office.airport", IND, (3, 6, 4, 1)),
    Group("office.airport", SRV, (1, 2, 2, 0)),
    # line 3: 长青街
    Group("street.changqing", IND, (2, 4, 4, 1)),
    Group("street.changqing", SRV, (0, 2, 2, 1)),
    # line 4: 慈惠街
    Group("street.cihui", IND, (2, 5, 4, 1)),
    Group("street.cihui", SRV, (1, 1, 2, 0)),
    # line 5: 走马岭街
    Group("street.zoumaling", IND, (3, 6, 5, 1)),
    # line 6: 径河街 and every real-estate project, whichever street it is in
    Group("street.jinghe", IND, (2, 4, 4, 1)),
    Group("street.jinghe", EST, (0, 1, 1, 0)),
    Group("street.jinyinhu", EST, (1, 3, 4, 1)),
    Group("street.changqing", EST, (0, 1, 2, 0)),
    Group("street.jiangjunlu", EST, (0, 2, 3, 1)),
    # line 7: 东山街, 辛安渡街 and every agricultural project
    Group("street.dongshan", IND, (1, 3, 3, 1)),
    Group("street.dongshan", AGR, (1, 1, 2, 0)),
    Group("street.xinandu", IND, (1, 2, 3, 1)),
    Group("street.xinandu", AGR, (1, 2, 2, 1)),
    Group("street.zoumaling", AGR, (0, 1, 1, 0)),
    # line 8: 将军路街 and four industry offices; attracted projects not yet landed by explicit assignment
    Group("street.jiangjunlu", SRV, (2, 3, 4, 1)),
    Group("office.modern_services", SRV, (2, 4, 4, 1)),
    Group("office.bonded_logistics", SRV, (2, 4, 4, 1)),
    Group("office.food_medicine", IND, (2, 4, 4, 1)),
    Group("office.high_tech", IND, (2, 4, 4, 1)),
    Group("street.changqing", IND, (1, 0, 0, 0), LINE8_NOT_LANDED),
    Group("street.cihui", IND, (2, 0, 0, 0), LINE8_NOT_LANDED),
    Group("street.jinghe", IND, (1, 0, 0, 0), LINE8_NOT_LANDED),
    Group("street.dongshan", SRV, (1, 0, 0, 0), LINE8_NOT_LANDED),
    Group("office.airport", SRV, (1, 0, 0, 0), LINE8_NOT_LANDED),
)

#: 省市重大项目 in 2020 (§三(三)): the largest non-real-estate projects of the portfolio.
PROVINCIAL_MUNICIPAL = 15

#: What a unit's projects make, with the GB/T 4754-2017 industry division of the project code.
_GENERIC_INDUSTRY = (
    ("智能装备", 35),
    ("汽车零部件", 36),
    ("精密机械", 34),
    ("新能源电池", 38),
    ("光电子器件", 39),
    ("金属结构件", 33),
    ("新型建材", 30),
    ("环保设备", 35),
    ("塑料包装材料", 29),
)
_PRODUCTS: Mapping[tuple[str, ProjectCategory], tuple[tuple[str, int], ...]] = {
    ("office.electromechanical", IND): (
        ("智能装备", 35),
        ("汽车零部件", 36),
        ("工业机器人", 34),
        ("电机电控", 38),
        ("数控机床", 34),
    ),
    ("office.food_medicine", IND): (
        ("休闲食品", 14),
        ("饮料", 15),
        ("生物医药", 27),
        ("中药饮片", 27),
        ("冷链食品加工", 13),
    ),
    ("office.high_tech", IND): (
        ("集成电路封测", 39),
        ("智能传感器", 40),
        ("新型显示模组", 39),
        ("检验检测仪器", 40),
    ),
    ("office.airport", IND): (("航空零部件", 37), ("航空电子", 39), ("无人机", 37)),
    ("office.airport", SRV): (("航空物流园", 59), ("临空商务中心", 72)),
    ("office.bonded_logistics", SRV): (
        ("保税物流中心", 59),
        ("冷链物流园", 59),
        ("跨境电商仓储中心", 59),
        ("多式联运枢纽", 58),
    ),
    ("office.modern_services", SRV): (
        ("总部经济大楼", 72),
        ("数据中心", 64),
        ("软件园", 65),
        ("会展中心", 72),
    ),
}
_SERVICES = (
    ("商务总部", 72),
    ("电商产业园", 51),
    ("供应链服务中心", 58),
    ("软件研发中心", 65),
    ("商业综合体", 52),
)
_REAL_ESTATE = (("住宅小区", 70), ("商住综合体", 70), ("人才公寓", 70))
_AGRICULTURE = (
    ("现代农业示范园", 1),
    ("蔬菜标准化种植基地", 1),
    ("生态养殖基地", 3),
    ("花卉苗木基地", 1),
    ("智慧渔业园", 4),
    ("农产品加工配送中心", 5),
)
_SUFFIX = {
    P: ("项目",),
    N: ("生产基地项目", "产业园项目", "建设项目"),
    C: ("项目", "（一期）项目", "（二期）项目"),
    D: ("项目", "扩建项目"),
}
_FIRMS = {
    IND: ("科技", "智能制造", "实业"),
    SRV: ("物流", "商务", "供应链管理"),
    EST: ("置业",),
    AGR: ("农业发展",),
}
_BRAND_FIRST = "华恒鼎嘉远博瑞宏卓众盛泰润永康汇凯信德兴和晟铭锦"
_BRAND_SECOND = "瑞通盛禾航雅诚图丰越合达源成康辉腾宇昊澜峰"

#: Total investment per category: median (yuan) and spread of a log-normal draw, and its bounds (also
#: used by ``bench/registry.py``).
INVESTMENT = {
    IND: (300_000_000, 1.0, 30_000_000, 12_000_000_000),
    SRV: (250_000_000, 1.0, 30_000_000, 8_000_000_000),
    EST: (1_200_000_000, 0.6, 300_000_000, 10_000_000_000),
    AGR: (80_000_000, 0.7, 20_000_000, 1_000_000_000),
}
#: The year's planned investment as a share of the total, by class.
_ANNUAL_SHARE = {P: (0.0, 0.08), N: (0.15, 0.35), C: (0.2, 0.45), D: (0.1, 0.3)}
#: Share of ratification (核准类) projects; the rest are filed (备案类).
_RATIFIED = {IND: 0.2, SRV: 0.1, EST: 0.0, AGR: 0.05}
#: Share of milestones already due before the plan day that are left without an actual date.
_LEFT_OPEN = 0.05


@dataclass(frozen=True)
class PlannedProject:
    """One project of the portfolio: what to register, and the explicit assignment the plan names."""

    unit: str
    create: ProjectCreate
    assignment: Assignment | None = None


@dataclass(frozen=True)
class Portfolio:
    projects: tuple[PlannedProject, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.projects)


def _between(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _after(rng: random.Random, day: date, low: int, high: int) -> date:
    return day + timedelta(days=rng.randint(low, high))


def _plan(rng: random.Random, klass: ProjectClass) -> list[tuple[MilestoneType, date]]:
    """The plan's milestones of one project (dates only), by class (§三(一) lists the steps)."""
    m = MilestoneType
    steps: list[tuple[MilestoneType, date]] = []
    if klass is P:
        steps.append((m.NEGOTIATION, _between(rng, date(2019, 10, 1), date(2020, 3, 31))))
        signing = _between(rng, date(2020, 5, 10), date(2020, 9, 30))
        start = _between(rng, date(2020, 10, 15), date(2021, 6, 30))
        steps += [(m.SIGNING, signing), (m.LAND_DEPOSIT, _after(rng, signing, 30, 90))]
        steps += [(m.CONSTRUCTION_START, start), (m.PRODUCTION_START, _after(rng, start, 365, 730))]
    elif klass is N:
        signing = _between(rng, date(2019, 8, 1), date(2020, 3, 31))
        start = _between(rng, date(2020, 5, 6), date(2020, 12, 20))
        production = _after(rng, start, 300, 700)
        steps += [(m.NEGOTIATION, _after(rng, signing, -180, -60)), (m.SIGNING, signing)]
        steps.append((m.LAND_DEPOSIT, _between(rng, max(signing, date(2019, 11, 1)), date(2020, 6, 30))))
        steps.append((m.CAPITAL_INJECTION, _between(rng, date(2020, 4, 1), start)))
        steps += [(m.CONSTRUCTION_START, start), (m.PRODUCTION_START, production)]
        steps.append((m.FULL_PRODUCTION, _after(rng, production, 180, 540)))
    elif klass is C:
        completion = _between(rng, date(2020, 6, 15), date(2021, 12, 31))
        production = _after(rng, completion, 30, 120)
        steps.append((m.CONSTRUCTION_START, _between(rng, date(2017, 6, 1), date(2019, 12, 31))))
        steps += [(m.COMPLETION, completion), (m.PRODUCTION_START, production)]
        steps.append((m.FULL_PRODUCTION, _after(rng, production, 180, 540)))
    else:
        completion = _between(rng, date(2020, 3, 1), date(2020, 9, 30))
        production = _after(rng, completion, 20, 90)
        steps.append((m.CONSTRUCTION_START, _between(rng, date(2017, 1, 1), date(2019, 3, 31))))
        steps += [(m.COMPLETION, completion), (m.PRODUCTION_START, production)]
        steps.append((m.FULL_PRODUCTION, _after(rng, production, 180, 365)))
    return steps


def plan_milestones(rng: random.Random, klass: ProjectClass) -> list[tuple[MilestoneType, date, date | None]]:
    """``(type, planned, actual)`` of one project's plan: what was due before the plan day has an actual
    date, a few left open (shared with ``bench/registry.py``, which loads 100,000 such projects)."""
    plans = []
    for kind, planned in _plan(rng, klass):
        actual = None
        if planned < PLAN_DAY and rng.random() >= _LEFT_OPEN:
            actual = min(_after(rng, planned, -20, 15), PLAN_DAY - timedelta(days=1))
        plans.append((kind, planned, actual))
    return plans


def _milestones(rng: random.Random, klass: ProjectClass) -> list[MilestonePlan]:
    return [
        MilestonePlan(type=kind, planned_date=planned, actual_date=actual)
        for kind, planned, actual in plan_milestones(rng, klass)
    ]


def _wan(value: float) -> Decimal:
    """Yuan rounded to whole 万元 (the plan's unit), as an exact decimal with two places."""
    return Decimal(int(value / 10_000) * 10_000).quantize(Decimal("0.01"))


def _investment(
    rng: random.Random, category: ProjectCategory, klass: ProjectClass
) -> tuple[Decimal, Decimal]:
    median, sigma, low, high = INVESTMENT[category]
    total = min(max(math.exp(rng.gauss(math.log(median), sigma)), low), high)
    share_low, share_high = _ANNUAL_SHARE[klass]
    return _wan(total), _wan(total * rng.uniform(share_low, share_high))


def _products(unit: str, category: ProjectCategory) -> tuple[tuple[str, int], ...]:
    if (unit, category) in _PRODUCTS:
        return _PRODUCTS[unit, category]
    return {IND: _GENERIC_INDUSTRY, SRV: _SERVICES, EST: _REAL_ESTATE, AGR: _AGRICULTURE}[category]


def _place(unit_name: str) -> str:
    """金银湖街 → 金银湖, 新沟镇街 → 新沟 (real-estate projects are named after where they are)."""
    return unit_name.removesuffix("街").removesuffix("镇")


def _code(
    rng: random.Random,
    klass: ProjectClass,
    milestones: list[MilestonePlan],
    industry: int,
    approval: ApprovalType,
    serial: int,
) -> str | None:
    """The hyphenated project code of a project filed before the plan day, or None (not filed yet)."""
    if klass is P or (klass is N and rng.random() < 0.25):
        return None
    first = min(m.planned_date for m in milestones)
    year = min(first.year, 2020) if klass is N else max(first.year - rng.randint(0, 1), 2016)
    kind = "02" if approval is ApprovalType.RATIFICATION else "03"
    return f"{year}-420112-{industry:02d}-{kind}-{serial:06d}"


def generate(unit_names: Mapping[str, str], *, seed: int = SEED) -> Portfolio:
    """The 2020 demo portfolio; ``unit_names`` maps the document keys of :data:`GROUPS` to unit names
    (from the directory, e.g. ``{"street.jinyinhu": "金银湖街"}``). Pure and deterministic."""
    rng = random.Random(seed)
    slots = [
        (group, klass)
        for group in GROUPS
        for klass, count in zip((P, N, C, D), group.counts, strict=True)
        for _ in range(count)
    ]
    rng.shuffle(slots)
    brands = rng.sample([a + b for a in _BRAND_FIRST for b in _BRAND_SECOND], len(slots))
    serials = rng.sample(range(1, 1_000_000), len(slots))
    drafts: list[dict[str, Any]] = []
    for (group, klass), brand, serial in zip(slots, brands, serials, strict=True):
        product, industry = rng.choice(_products(group.unit, group.category))
        if group.category is EST:
            name = f"{LABEL}{brand}·{_place(unit_names[group.unit])}{product}项目"
        else:
            name = f"{LABEL}{brand}{product}{rng.choice(_SUFFIX[klass])}"
        firm = rng.choice(_FIRMS[group.category])
        ratified = rng.random() < _RATIFIED[group.category]
        approval = ApprovalType.RATIFICATION if ratified else ApprovalType.FILING
        total, annual = _investment(rng, group.category, klass)
        milestones = _milestones(rng, klass)
        drafts.append(
            {
                "group": group,
                "fields": {
                    "name": name,
                    "enterprise": f"{LABEL}武汉{brand}{firm}有限公司",
                    "project_code": _code(rng, klass, milestones, industry, approval, serial),
                    "category": group.category,
                    "project_class": klass,
                    "responsible_unit_id": org_id(group.unit),
                    # 批前提速: every planned new-start and preliminary project (§四(二)).
                    "fast_track": klass in (N, P),
                    "approval_type": approval,
                    "total_investment": total,
                    "plan_year": PLAN_YEAR,
                    "planned_annual_investment": annual,
                    "milestones": milestones,
                },
            }
        )
    _place_and_serve(drafts, unit_names, random.Random(seed + 1))
    # 省市重大项目 (§三(三)): the largest projects that are not real estate.
    eligible = [i for i, d in enumerate(drafts) if d["group"].category is not EST]
    eligible.sort(key=lambda i: (-drafts[i]["fields"]["total_investment"], i))
    provincial = set(eligible[:PROVINCIAL_MUNICIPAL])
    return Portfolio(
        tuple(
            PlannedProject(
                unit=d["group"].unit,
                create=ProjectCreate(**d["fields"], provincial_municipal=i in provincial),
                assignment=d["group"].assignment,
            )
            for i, d in enumerate(drafts)
        )
    )


#: Where an industry office's projects stand (its parks lie in these streets): invented for the demo.
OFFICE_STREETS = {
    "office.electromechanical": "street.zoumaling",
    "office.airport": "street.jinyinhu",
    "office.modern_services": "street.jiangjunlu",
    "office.bonded_logistics": "street.jinghe",
    "office.food_medicine": "street.zoumaling",
    "office.high_tech": "street.jinyinhu",
}
#: The directory's posts whose synthetic holders serve the projects (lkg.registry.demo_directory).
SERVICE_CONTACT_POST = "post.dept.approval.service_contact"
AGENT_POST = "post.dept.approval.agent"


def _place_and_serve(drafts: list[dict[str, Any]], unit_names: Mapping[str, str], rng: random.Random) -> None:
    """Each project's site (its street; a park for most, a plot for those past signing), its service
    contact (对口服务, §三(一)), its statistics contact (统计联系人, §三(四)) and, for the 批前提速
    projects, its agent (代办员, §四(三)); from a generator of their own, so the rest of the portfolio is
    what it was before sites were kept."""
    from lkg.registry.demo_directory import person_of  # the demo's people, not the portfolio's shape

    for n, draft in enumerate(drafts):
        unit = draft["group"].unit
        street = OFFICE_STREETS.get(unit, unit)
        place = _place(unit_names[street])
        fields = draft["fields"]
        park = f"{place}产业园（演示）" if rng.random() < 0.7 else None
        plot = None
        if fields["project_class"] is not P:
            plot = f"东西湖区{place}{rng.randint(1, 60)}号地块（演示）"
        fields["site"] = {"street_id": org_id(street), "park": park, "plot": plot}
        fields["service_contact_id"] = org_id(person_of(SERVICE_CONTACT_POST, 1 + n % 2))
        if fields["fast_track"]:
            fields["agent_id"] = org_id(person_of(AGENT_POST, 1 + rng.randrange(2)))
        # §三(四)二: the responsible street or office appoints the project's statistics contact.
        fields["statistics_contact_id"] = org_id(person_of(f"post.{unit}.statistics_contact"))


def explicit_rules(
    assigned: Iterable[tuple[uuid.UUID, Assignment]], *, valid_from: date
) -> list[tuple[str | None, RoutingRuleSnapshot]]:
    """The explicit routing rules (明确指定) of registered projects, as org directory entries."""
    return [
        (
            None,
            RoutingRuleSnapshot(
                id=uuid.uuid5(org_id("rule.explicit"), str(project_id)),
                revision=1,
                valid_from=valid_from,
                basis=RoutingBasis.EXPLICIT,
                line_id=org_id(line_key(assignment.line)),
                project_id=project_id,
                note=assignment.note,
            ),
        )
        for project_id, assignment in assigned
    ]
