"""How a line (包保线) is named in the district's documents: 第二线, in Chinese numerals, as the policy
numbers its eight lines (§二(二)); one function, so every service's reports and bulletins write it alike."""

from __future__ import annotations

_DIGITS = "零一二三四五六七八九"

#: What a project no line covers is shown as (it waits for 重大项目办, docs/registry.md).
UNROUTED = "待分线"


def chinese_number(number: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 35 → 三十五; from 100 on, Arabic digits (no district has that
    many lines)."""
    if not 0 < number < 100:
        return str(number)
    tens, ones = divmod(number, 10)
    if tens == 0:
        return _DIGITS[ones]
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


def line_label(number: int) -> str:
    """第N线 in Chinese numerals (第二线, 第十二线), as the district writes it."""
    return f"第{chinese_number(number)}线"


__all__ = ["UNROUTED", "chinese_number", "line_label"]
