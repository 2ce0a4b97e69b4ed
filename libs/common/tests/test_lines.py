"""Line names as the district writes them (lkg.common.lines)."""

from __future__ import annotations

import pytest

from lkg.common.lines import chinese_number, line_label


@pytest.mark.parametrize(
    ("number", "label"),
    [
        (1, "第一线"),
        (2, "第二线"),
        (8, "第八线"),
        (10, "第十线"),
        (11, "第十一线"),
        (20, "第二十线"),
        (35, "第三十五线"),
    ],
)
def test_a_line_is_named_in_chinese_numerals(number, label):
    assert line_label(number) == label


def test_numbers_out_of_range_stay_arabic():
    assert (chinese_number(0), chinese_number(100)) == ("0", "100")
