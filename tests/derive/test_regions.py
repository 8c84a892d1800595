"""GB/T 2260 codes via python-stdnum's cn/loc table."""

import pytest

from engine.core.regions import ancestry, in_jurisdiction, is_known_region, region_name


@pytest.mark.parametrize("code", ["140302", "140300", "140000", "530000", "110101", "419001", "441900"])
def test_known(code):
    assert is_known_region(code)


@pytest.mark.parametrize("code", [
    "110103",  # 崇文区, abolished 2010
    "469003",  # 儋州市 under 省直辖 until 2015, now 460400
    "999999", "140399", "14030", "1403022", "", None, 140302,
])
def test_unknown(code):
    assert not is_known_region(code)


def test_names():
    assert region_name("140302") == "城区"
    assert region_name("419001") == "济源市"  # the code was 义马市 in 1986–1989
    assert region_name("110103") is None


@pytest.mark.parametrize("code,expected", [
    ("140302", ("140302", "140300", "140000")),  # 阳泉市城区
    ("530102", ("530102", "530100", "530000")),  # 昆明市五华区
    ("140300", (None, "140300", "140000")),  # a city with counties
    ("140000", (None, None, "140000")),
    # 直辖市: the municipality is the city; 110100 市辖区 / 500200 县 are only groupings.
    ("110101", ("110101", "110000", "110000")),
    ("500230", ("500230", "500000", "500000")),
    ("310115", ("310115", "310000", "310000")),
    ("110100", (None, "110000", "110000")),
    ("110000", (None, "110000", "110000")),
    # 省直辖县级行政单位: each stands as its own city.
    ("419001", ("419001", "419001", "410000")),
    ("429004", ("429004", "429004", "420000")),
    ("469001", ("469001", "469001", "460000")),
    ("659001", ("659001", "659001", "650000")),
    ("419000", (None, None, "410000")),
    # Prefecture-level cities without counties are their own county.
    ("441900", ("441900", "441900", "440000")),
    ("442000", ("442000", "442000", "440000")),
    ("460400", ("460400", "460400", "460000")),
    ("620200", ("620200", "620200", "620000")),
    ("460300", (None, "460300", "460000")),  # 三沙市 has districts
    # Historic codes still place.
    ("110103", ("110103", "110000", "110000")),
])
def test_ancestry(code, expected):
    assert ancestry(code) == expected


@pytest.mark.parametrize("code", ["999999", "140399", "abcdef", "1403", None])
def test_ancestry_unknown(code):
    assert ancestry(code) is None


@pytest.mark.parametrize("region,jurisdiction,expected", [
    ("530102", "530000", True),
    ("530000", "530000", True),
    ("140302", "530000", False),
    ("140212", "140200", True),
    ("140200", "140200", True),
    ("140302", "140200", False),
    ("140302", "140302", True),
    ("140303", "140302", False),
    ("140300", "140302", False),  # a city is not inside one of its districts
    ("110101", "110000", True),
    ("500230", "500000", True),
    ("419001", "410000", True),
    ("419001", "419001", True),
    ("419002", "419001", False),
    ("441900", "441900", True),
    ("140302", "000000", True),
    ("140302", "100000", True),
    ("14030", "140000", False),
    (None, "140000", False),
])
def test_in_jurisdiction(region, jurisdiction, expected):
    assert in_jurisdiction(region, jurisdiction) is expected


@pytest.mark.parametrize("jurisdiction", ["14", "1400000", "", None])
def test_in_jurisdiction_rejects_bad_jurisdiction(jurisdiction):
    with pytest.raises(ValueError):
        in_jurisdiction("140302", jurisdiction)


def test_codes_must_be_six_ascii_digits_exactly():
    assert not is_known_region("530102\n")
    assert not in_jurisdiction("５３０１０２", "530000")
    assert not in_jurisdiction("530102\n", "530000")
