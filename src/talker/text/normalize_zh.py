"""Chinese text normalisation: every digit and symbol rewritten as the Chinese a speaker would say.

Rules run in order; contextual ones (dates, phones, times, money, percentages, ranges, units) come
before the generic number reader so that, e.g., 2024-03-05 is a date and not a subtraction.
Latin words (brands, GB, CPU) are left as they are for the English phonemiser.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from talker.text.numbers import zh_cardinal, zh_decimal, zh_digits, zh_fraction

Replacement = Callable[[re.Match[str]], str]
Rule = tuple[re.Pattern[str], Replacement]

_NUM = r"\d+(?:\.\d+)?"
# A minus sign only where it cannot be a hyphen or a range dash: nothing number-like or Latin before it.
_NEG = r"(?:(?<![0-9A-Za-z.)\]])(?P<neg>[-−]))?"
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff"

_UNITS = {
    "km/h": "公里每小时", "m/s": "米每秒", "mph": "英里每小时",
    "km²": "平方公里", "m²": "平方米", "㎡": "平方米", "m³": "立方米",
    "km": "公里", "cm": "厘米", "mm": "毫米", "nm": "纳米", "m": "米",
    "kg": "千克", "mg": "毫克", "g": "克",
    "ml": "毫升", "mL": "毫升", "L": "升", "l": "升",
    "h": "小时", "min": "分钟", "ms": "毫秒", "s": "秒",
    "kWh": "千瓦时", "kW": "千瓦", "W": "瓦", "mAh": "毫安时", "V": "伏",
    "GHz": "吉赫兹", "MHz": "兆赫兹", "kHz": "千赫兹", "Hz": "赫兹",
    # Storage sizes stay Latin: the English phonemiser spells them.
    "TB": "TB", "GB": "GB", "MB": "MB", "KB": "KB",
    "℃": "摄氏度", "°C": "摄氏度", "℉": "华氏度", "°F": "华氏度", "°": "度",
}  # fmt: skip
_TEMPERATURE_UNITS = frozenset({"℃", "°C", "℉", "°F", "°"})
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_QUANTITY_TEXT = _NUM + r"\s?(?:" + _UNIT_ALT + r")(?![A-Za-z])"
_QUANTITY = re.compile(r"(?P<num>" + _NUM + r")\s?(?P<unit>" + _UNIT_ALT + r")(?![A-Za-z])")
_UNIT_CHAIN = r"(?P<chain>" + _QUANTITY_TEXT + r"(?:\s?" + _QUANTITY_TEXT + r")*)"  # 2h30min

_CURRENCY_SIGNS = {"¥": "元", "￥": "元", "$": "美元", "US$": "美元", "HK$": "港元", "€": "欧元", "£": "英镑"}
_CURRENCY_CODES = {
    "USD": "美元", "RMB": "元", "CNY": "元", "EUR": "欧元", "GBP": "英镑", "JPY": "日元", "HKD": "港元",
}  # fmt: skip
_PER_SYMBOL = {"%": "百分之", "‰": "千分之", "‱": "万分之"}
_OPERATORS = {"+": "加", "×": "乘", "*": "乘", "÷": "除以", "=": "等于", "<": "小于", ">": "大于",
              "≤": "小于等于", "≥": "大于等于"}  # fmt: skip
_SYMBOLS = {
    "=": "等于", "×": "乘", "÷": "除以", "&": "和", "@": "艾特", "#": "井号", "#号": "井号",
    "%": "百分号", "‰": "千分号", "$": "美元", "¥": "元", "￥": "元", "€": "欧元", "£": "英镑",
    "℃": "摄氏度", "℉": "华氏度",
}  # fmt: skip

# 2 is 两 before these (两个, 两点, 两千); anything else keeps 二 (二月, 二号, 二楼).
_MEASURE_WORDS = (
    "个", "位", "只", "种", "条", "杯", "本", "次", "天", "年", "张", "件", "台", "部", "辆", "双", "对",
    "把", "块", "元", "角", "毛", "分", "秒", "点", "名", "人", "家", "间", "层", "岁", "斤", "克", "公斤",
    "千克", "吨", "米", "公里", "千米", "厘米", "毫米", "里", "升", "毫升", "小时", "钟头", "周", "星期",
    "礼拜", "倍", "套", "份", "场", "首", "句", "封", "片", "颗", "粒", "根", "支", "枝", "棵", "朵",
    "头", "匹", "座", "栋", "所", "篇", "页", "章", "节", "遍", "趟", "回", "下", "声", "口", "碗", "盘",
    "瓶", "盒", "包", "袋", "箱", "桶", "顿", "顶", "幅", "架", "艘", "枚", "项", "道", "批", "群", "组",
    "轮", "集", "成", "度", "百", "千", "万", "亿", "美元", "欧元", "英镑", "日元", "港元", "港币",
    "英里", "英尺", "磅", "盎司", "摄氏度", "华氏度",
)  # fmt: skip
_NOT_MEASURE = ("年级", "年代", "分之")
_NO_LIANG_BEFORE = ("第", "周", "星期", "礼拜", "初")
_COUNTRY_CODE = re.compile(r"\+(86|1|\d{1,3})[-\s]?")


def _is_code(m: re.Match[str]) -> bool:
    """Digits glued to Latin letters (SF1234567890, UA1234) are a code, read digit by digit."""
    start = m.start()
    return (
        start > 0 and m.string[start - 1].isascii() and m.string[start - 1].isalpha() and len(m.group()) >= 4
    )


def _wants_liang(text: str, start: int, end: int) -> bool:
    """Whether a 2 spanning text[start:end] is read 两: it counts something, it does not name it."""
    if text[:start].endswith(_NO_LIANG_BEFORE):
        return False
    after = text[end:].lstrip(" ")
    return after.startswith(_MEASURE_WORDS) and not after.startswith(_NOT_MEASURE)


def _integer(digits: str, liang: bool = False) -> str:
    """Read a standalone integer: codes (007) and very long strings digit by digit, else as a count."""
    if len(digits) > 12 or (len(digits) > 1 and digits[0] == "0"):
        return zh_digits(digits)
    return zh_cardinal(digits, liang)


def _quantity(num: str, liang: bool = False) -> str:
    return zh_decimal(num) if "." in num else _integer(num, liang)


def _clock(n: int) -> str:
    """Minutes and seconds of a clock reading: 5 → 零五, 30 → 三十."""
    return "零" + zh_digits(str(n)) if n < 10 else zh_cardinal(str(n))


def _valid_date(month: str, day: str) -> bool:
    return 1 <= int(month) <= 12 and 1 <= int(day) <= 31


# --- replacement functions ---------------------------------------------------------------------


def _ascii_digit(m: re.Match[str]) -> str:
    return str(int(m.group()))  # any Unicode decimal digit: ５, ٣, ३


def _fullwidth(m: re.Match[str]) -> str:
    return chr(ord(m.group()) - 0xFEE0)


def _thousands(m: re.Match[str]) -> str:
    return m.group().replace(",", "")


def _year_range(m: re.Match[str]) -> str:
    sep = m["sep"] if m["sep"] in "至到" else "到"
    return f"{zh_digits(m['a'])}{m['y']}{sep}{zh_digits(m['b'])}年"


def _full_date(m: re.Match[str]) -> str:
    if not _valid_date(m["month"], m["day"]):
        return m.group()
    return f"{zh_digits(m['year'])}年{zh_cardinal(str(int(m['month'])))}月{zh_cardinal(str(int(m['day'])))}日"


def _year(m: re.Match[str]) -> str:
    return zh_digits(m.group())


def _month_or_day(m: re.Match[str]) -> str:
    return zh_cardinal(str(int(m.group())))


def _phone_digits(number: str) -> str:
    """Digit by digit with 幺, in the groups people pause between: as written, else 3-4-4 / 3-3-4."""
    groups = [g for g in re.split(r"[\s\-()]+", number) if g]
    if len(groups) == 1:
        digits = groups[0]
        if len(digits) == 11 and digits[0] == "1":
            groups = [digits[:3], digits[3:7], digits[7:]]
        elif len(digits) == 10 and digits[0] in "48":
            groups = [digits[:3], digits[3:6], digits[6:]]
    return "，".join(zh_digits(g, yao=True) for g in groups)


def _phone_with_context(m: re.Match[str]) -> str:
    num = m["num"]
    if sum(c.isdigit() for c in num) < 3:
        return m.group()
    code = _COUNTRY_CODE.match(num)
    if code:
        return m["ctx"] + "加" + zh_digits(code[1]) + "，" + _phone_digits(num[code.end() :])
    return m["ctx"] + _phone_digits(num)


def _phone(m: re.Match[str]) -> str:
    prefix = ""
    if m.groupdict().get("cc"):
        prefix = ("加" if m["plus"] else "") + zh_digits(m["cc"]) + "，"
    return prefix + _phone_digits(m["num"])


def _time(m: re.Match[str]) -> str:
    hour, minute, second = int(m["h"]), int(m["m"]), int(m["s"] or 0)
    if hour > 24 or minute > 59 or second > 59:
        return m.group()
    text = zh_cardinal(str(hour), liang=True) + "点"
    if minute or second:
        text += _clock(minute) + "分" if minute else "零分"
    if second:
        text += _clock(second) + "秒"
    return text


def _to(m: re.Match[str]) -> str:
    return "到"


def _ratio(m: re.Match[str]) -> str:
    return f"{_integer(m['a'])}比{_integer(m['b'])}"


def _money(m: re.Match[str]) -> str:
    sign = "负" if m["neg"] else ""
    return sign + _quantity(m["num"], liang=True) + m["mag"] + _CURRENCY_SIGNS[m["cur"]]


def _currency_code(m: re.Match[str]) -> str:
    sign = "负" if m["neg"] else ""
    return sign + _quantity(m["num"], liang=True) + _CURRENCY_CODES[m["code"]]


def _per(num: str, symbol: str) -> str:
    if num == "100" and symbol == "%":
        return "百分之百"
    return _PER_SYMBOL[symbol] + _quantity(num)


def _percent_range(m: re.Match[str]) -> str:
    sep = m["sep"] if m["sep"] in "至到" else "到"
    return _per(m["a"], m["pa"] or m["pb"]) + sep + _per(m["b"], m["pb"])


def _percent(m: re.Match[str]) -> str:
    return ("负" if m["neg"] else "") + _per(m["num"], m["sym"])


def _ordinal_number(digits: str) -> str:
    text = zh_cardinal(str(int(digits)))
    return "二" + text[1:] if text.startswith("两") else text  # 第二千, not 第两千


def _ordinal(m: re.Match[str]) -> str:
    text = "第" + _ordinal_number(m["a"])
    if m["b"]:
        text += ("到" if m["sep"] not in "至到" else m["sep"]) + _ordinal_number(m["b"])
    return text


def _subtract(m: re.Match[str]) -> str:
    return "减"


def _operator(m: re.Match[str]) -> str:
    return _OPERATORS[m["op"]]


def _range(m: re.Match[str]) -> str:
    unit = m["unit"]
    liang = unit is not None or _wants_liang(m.string, m.start("b"), m.end())
    sep = m["sep"] if m["sep"] in "至到" else "到"
    sign = ""
    if m["neg"]:
        sign = "零下" if unit in _TEMPERATURE_UNITS else "负"
    return f"{sign}{_quantity(m['a'], liang)}{sep}{_quantity(m['b'], liang)}{_UNITS[unit] if unit else ''}"


def _below_zero(m: re.Match[str]) -> str:
    return "零下"


def _one_unit(m: re.Match[str]) -> str:
    return _quantity(m["num"], liang=True) + _UNITS[m["unit"]]


def _units(m: re.Match[str]) -> str:
    """Quantities with units, possibly chained: 2h30min → 两小时三十分钟; -5℃ → 零下五摄氏度."""
    sign = ""
    if m["neg"]:
        first = _QUANTITY.match(m["chain"])
        sign = "零下" if first and first["unit"] in _TEMPERATURE_UNITS else "负"
    return sign + _QUANTITY.sub(_one_unit, m["chain"])


def _fraction(m: re.Match[str]) -> str:
    return ("负" if m["neg"] else "") + zh_fraction(m["a"], m["b"])


def _dotted(m: re.Match[str]) -> str:
    return "点".join(_integer(part) for part in m.group().split("."))


def _number(m: re.Match[str]) -> str:
    num = m["num"]
    if _is_code(m):
        return zh_digits(num)
    liang = "." not in num and _wants_liang(m.string, m.start("num"), m.end("num"))
    return ("负" if m["neg"] else "") + _quantity(num, liang)


def _bare_fraction(m: re.Match[str]) -> str:
    return "零点" + zh_digits(m["frac"])


def _per_unit(m: re.Match[str]) -> str:
    return "每"


def _symbol(m: re.Match[str]) -> str:
    return _SYMBOLS[m.group()]


def _hashtag(m: re.Match[str]) -> str:
    return m["tag"]


def _drop(m: re.Match[str]) -> str:
    return ""


_RANGE_SEP = r"\s*(?P<sep>[-~—–至到])\s*"
_PLAIN = r"(?<![\d.])"  # a number starts here, not in the middle of another one

_RULES: tuple[Rule, ...] = (
    # Digits of any script and full-width symbols (％, ＋ …) become ASCII; ：／． only between digits.
    (re.compile(r"(?![0-9])\d"), _ascii_digit),
    (re.compile(r"[％＋＝＄＆＠＃－～＜＞]"), _fullwidth),
    (re.compile(r"(?<=\d)[．：／](?=\d)"), _fullwidth),
    (re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])"), _thousands),
    (re.compile(r"#(?P<tag>[^#\s\d][^#\s]{0,39})#"), _hashtag),
    # Dates.
    (re.compile(r"(?<!\d)(?P<a>\d{4})(?P<y>年?)" + _RANGE_SEP + r"(?P<b>\d{4})年"), _year_range),
    (
        re.compile(
            r"(?<!\d)(?P<year>\d{4})(?P<s>[-/.])(?P<month>\d{1,2})(?P=s)(?P<day>\d{1,2})(?!\d|\.\d)[日号]?"
        ),
        _full_date,
    ),
    (re.compile(r"(?<!\d)\d{4}(?=\s*年)"), _year),
    (re.compile(_PLAIN + r"\d{1,2}(?=\s*月)"), _month_or_day),
    (re.compile(_PLAIN + r"\d{1,2}(?=\s*(?:日(?!元)|号))"), _month_or_day),
    # Phone numbers: after a telephone word, before a service word, mobiles, landlines, 400/800.
    (
        re.compile(
            r"(?P<ctx>(?:拨打|致电|打电话|电话|热线|号码|手机号|报警|呼叫|QQ|qq|微信)(?:号码|号)?(?:是|为)?[：:\s]*)"
            r"(?P<num>(?:\+\d{1,3}[-\s]?)?\d[\d\s-]{1,18}\d)(?![\d.])"
        ),
        _phone_with_context,
    ),
    (re.compile(_PLAIN + r"(?P<num>\d{3,6})(?=\s*(?:服务)?(?:热线|客服|报警|急救|电话))"), _phone),
    (
        re.compile(
            r"(?<![\d.])(?:(?P<plus>\+)?(?P<cc>86)[-\s]?)?"
            r"(?P<num>1[3-9]\d(?P<sep>[-\s]?)\d{4}(?P=sep)\d{4})(?![\d.])"
        ),
        _phone,
    ),
    (re.compile(_PLAIN + r"(?P<num>\(0\d{2,3}\)\s?\d{7,8}|0\d{2,3}-\d{7,8})(?![\d.])"), _phone),
    (re.compile(_PLAIN + r"(?P<num>[48]00-?\d{3}-?\d{4})(?![\d.])"), _phone),
    # Clock times (a dash between two of them is 到), then n:m that is not a time is a score or ratio.
    (re.compile(r"(?<=\d:\d\d)\s*[-~—–]\s*(?=\d{1,2}:\d\d)"), _to),
    (re.compile(r"(?<![\d:.])(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?![\d:])"), _time),
    (re.compile(r"(?<![\d.:])(?P<a>\d+):(?P<b>\d+)(?![\d:])"), _ratio),
    # Money and percentages.
    (re.compile(_NEG + r"(?P<cur>HK\$|US\$|[¥￥$€£])\s?(?P<num>" + _NUM + r")(?P<mag>[百千万亿]*)"), _money),
    (
        re.compile(
            _NEG + _PLAIN + r"(?P<num>" + _NUM + r")\s?(?P<code>USD|RMB|CNY|EUR|GBP|JPY|HKD)"
            r"(?![A-Za-z])"
        ),
        _currency_code,
    ),
    (
        re.compile(
            _PLAIN + r"(?P<a>" + _NUM + r")(?P<pa>[%‰‱]?)" + _RANGE_SEP + r"(?P<b>" + _NUM + r")"
            r"(?P<pb>[%‰‱])"
        ),
        _percent_range,
    ),
    (re.compile(_NEG + _PLAIN + r"(?P<num>" + _NUM + r")\s?(?P<sym>[%‰‱])"), _percent),
    # Ordinals: 第2 is 第二, never 两.
    (re.compile(r"第\s*(?P<a>\d+)(?:\s*(?P<sep>[-~—–至到])\s*(?P<b>\d+))?"), _ordinal),
    # Arithmetic before ranges: 5-3=2 subtracts.
    (re.compile(r"(?<=\d)\s*[-−]\s*(?=\d+(?:\.\d+)?\s*=)"), _subtract),
    (re.compile(r"(?<=\d)\s*(?P<op>[+×÷*=<>≤≥])\s*(?=[-−]?\d)"), _operator),
    # Ranges (3-5个, 20~25℃), then quantities with Latin units.
    (
        re.compile(
            _NEG + r"(?<![\d.:/])(?P<a>" + _NUM + r")" + _RANGE_SEP + r"(?P<b>" + _NUM + r")"
            r"(?![\d:/]|\.\d)(?:\s?(?P<unit>" + _UNIT_ALT + r")(?![A-Za-z]))?"
        ),
        _range,
    ),
    (re.compile(r"(?<![0-9A-Za-z.)\]])[-−](?=\d+(?:\.\d+)?\s*度)"), _below_zero),
    (
        re.compile(r"(?<![A-Za-z\d.])(?<![A-Za-z]\s)" + _NEG + _UNIT_CHAIN),
        _units,
    ),
    # Fractions, dotted sequences (versions, addresses), then any remaining number.
    (re.compile(_NEG + r"(?<![\d./])(?P<a>\d+)/(?P<b>\d+)(?![\d/])"), _fraction),
    (re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?!\d)"), _dotted),
    (re.compile(r"(?<![\w.])\.(?P<frac>\d+)"), _bare_fraction),
    (re.compile(_NEG + r"(?<!\d)(?P<num>" + _NUM + r")"), _number),
    # Symbols left over.
    (re.compile(r"(?<=[元块米克斤时钟天月年次人个件台升])\s*/\s*(?=[" + _HAN + r"])"), _per_unit),
    (re.compile(r"#号|[=×÷&@#%‰$¥￥€£℃℉]"), _symbol),
    # Chinese is written without spaces; ones typed around numbers (有 3 个) would read as pauses.
    (re.compile(r"(?<=[" + _HAN + r"])[ \t]+(?=[" + _HAN + r"])"), _drop),
)


def normalize_zh(text: str) -> str:
    """Rewrite digits and symbols of a Chinese sentence into the Chinese characters a speaker says."""
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text
