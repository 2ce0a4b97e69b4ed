"""Structure check of the national investment platform's project code (项目代码).

Two forms are accepted, both 24 characters:

* the earlier hyphenated form, in use before the 2020 switch: ``YYYY-RRRRRR-DD-TT-NNNNNN`` (year, 6-digit
  region code of GB/T 2260, 2-digit industry/department code, 2-digit project type, 6-digit serial), e.g.
  ``2019-420112-47-03-012345``;
* the GB/T 40058-2021 form without separators, whose parts are, in order, time code, region code, central
  supervising department code, project type code, random part and a check character. We read the
  standard's table of contents but not its text: the widths below (4 + 6 + 2 + 2 + 9 + 1) are our reading
  and are checked only as "digits where digits belong"; the check character's algorithm is not public to
  us, so it is **never verified** — the result says so as a warning, and a code is never rejected for it.

The function is pure; the registry stores the code as given (upper-cased) and returns the warnings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HYPHENATED = re.compile(r"^([0-9]{4})-([0-9]{6})-([0-9]{2})-([0-9]{2})-([0-9]{6})$")
_COMPACT = re.compile(r"^([0-9]{4})([0-9]{6})([0-9]{2})([0-9]{2})([0-9A-Z]{9})([0-9A-Z])$")
#: 东西湖区 (武汉临空港经济技术开发区) in GB/T 2260.
HOME_REGION = "420112"


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of a structure check: ``form`` is ``hyphenated`` or ``gbt40058``; errors reject the code,
    warnings never do."""

    code: str
    form: str | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_project_code(raw: str) -> CodeCheck:
    code = raw.strip().upper()
    if len(code) != 24:
        return CodeCheck(code, None, errors=[f"项目代码应为24位，实际{len(code)}位"])
    if m := _HYPHENATED.match(code):
        year, region, _dept, _type, _serial = m.groups()
        warnings = []
        if not 2014 <= int(year) <= 2100:
            warnings.append(f"时间代码{year}不在合理年份范围内")
        if region != HOME_REGION:
            warnings.append(f"地区代码{region}不是东西湖区（{HOME_REGION}）")
        return CodeCheck(code, "hyphenated", warnings=warnings)
    if m := _COMPACT.match(code):
        _time, region, _dept, _type, _random, _check = m.groups()
        warnings = ["校验码未核验：GB/T 40058-2021 的校验算法未能取得，仅检查了结构"]
        if region != HOME_REGION:
            warnings.append(f"地区代码{region}不是东西湖区（{HOME_REGION}）")
        return CodeCheck(code, "gbt40058", warnings=warnings)
    return CodeCheck(
        code,
        None,
        errors=["项目代码结构不符：应为 YYYY-地区6位-2位-2位-6位，或 GB/T 40058-2021 的24位代码"],
    )
