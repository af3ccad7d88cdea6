"""English text normalisation: digits, symbols and abbreviations rewritten as the words a speaker says.

Rules run in order; contextual ones (abbreviations, dates, phones, times, money, years, units, ranges)
come before the generic number reader. Generated words are lower case, apart from names (months,
Celsius); the rest of the sentence keeps its text and punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from talker.text.numbers import (
    en_cardinal,
    en_digits,
    en_fraction,
    en_number,
    en_ordinal,
    en_plural_number,
    en_year,
)

Replacement = Callable[[re.Match[str]], str]
Rule = tuple[re.Pattern[str], Replacement]

_NUM = r"\d+(?:\.\d+)?"
_NUMC = r"(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?)"  # with optional thousands separators
# A minus sign only where it cannot be a hyphen or a range dash: nothing word-like before it.
_NEG = r"(?:(?<![0-9A-Za-z.)\]])(?P<neg>[-−]))?"
_AMPM = r"(?P<ap>[AaPp](?:\.\s?[Mm]\.|[Mm]\b))"
_YEAR = r"(?:1\d{3}|20\d{2})"

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MONTH_ALT = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONTH_ABBR = {
    "Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "Jun": "June", "Jul": "July",
    "Aug": "August", "Sep": "September", "Sept": "September", "Oct": "October", "Nov": "November",
    "Dec": "December",
}  # fmt: skip
_TITLES = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor"}
_LATIN = {"e.g": "for example", "i.e": "that is", "vs": "versus", "approx": "approximately", "cf": "compare"}

_UNITS: dict[str, tuple[str, str]] = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"), "m/s": ("meter per second", "meters per second"),
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "km²": ("square kilometer", "square kilometers"), "m²": ("square meter", "square meters"),
    "m": ("meter", "meters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"), "l": ("liter", "liters"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "s": ("second", "seconds"), "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "ms": ("millisecond", "milliseconds"),
    "TB": ("terabyte", "terabytes"), "GB": ("gigabyte", "gigabytes"), "MB": ("megabyte", "megabytes"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"),
    "GHz": ("gigahertz", "gigahertz"), "MHz": ("megahertz", "megahertz"), "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"),
    "kWh": ("kilowatt hour", "kilowatt hours"), "kW": ("kilowatt", "kilowatts"), "W": ("watt", "watts"),
    "V": ("volt", "volts"), "mAh": ("milliamp hour", "milliamp hours"),
    "°C": ("degree Celsius", "degrees Celsius"), "℃": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "℉": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
}  # fmt: skip
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_QUANTITY_TEXT = _NUMC + r"\s?(?:" + _UNIT_ALT + r")(?![A-Za-z])"
_QUANTITY = re.compile(r"(?P<num>" + _NUMC + r")\s?(?P<unit>" + _UNIT_ALT + r")(?![A-Za-z])")
_UNIT_CHAIN = r"(?P<chain>" + _QUANTITY_TEXT + r"(?:\s?" + _QUANTITY_TEXT + r")*)"  # 2h30min

# one, many, one subunit, many subunits ("" when the subunit is not spoken in English).
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yuan", "yuan", "", ""),
    "￥": ("yuan", "yuan", "", ""),
}
_CURRENCY_CODES = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "RMB": "¥"}
_MAGNITUDES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million",
               "b": "billion", "B": "billion", "bn": "billion"}  # fmt: skip
_OPERATORS = {"+": "plus", "×": "times", "*": "times", "÷": "divided by", "=": "equals",
              "<": "less than", ">": "greater than"}  # fmt: skip
_SYMBOLS = {"&": "and", "%": "percent", "‰": "per mille", "=": "equals", "@": "at", "+": "plus",
            "×": "times", "÷": "divided by", "℃": "degrees Celsius", "℉": "degrees Fahrenheit"}  # fmt: skip

_SENTENCE_START = re.compile(r"\s+[A-Z]")


def _pad(m: re.Match[str], words: str) -> str:
    """Separate generated words from letters or digits glued to the match (MP3 → MP three)."""
    text = m.string
    if words and m.start() > 0 and text[m.start() - 1].isalnum() and words[0].isalnum():
        words = " " + words
    if words and m.end() < len(text) and text[m.end()].isalnum() and words[-1].isalnum():
        words += " "
    return words


def _ends_sentence(m: re.Match[str], strict: bool = False) -> bool:
    """Whether an abbreviation's full stop also ends the sentence (and so must stay)."""
    rest = m.string[m.end() :]
    return not rest.strip() or (not strict and _SENTENCE_START.match(rest) is not None)


def _same_case(source: str, words: str) -> str:
    return words[0].upper() + words[1:] if source[:1].isupper() else words


def _unit_words(num: str, unit: str) -> str:
    one, many = _UNITS[unit]
    return one if num.lstrip("-−") == "1" else many


# --- replacement functions ---------------------------------------------------------------------


def _ascii_digit(m: re.Match[str]) -> str:
    return str(int(m.group()))  # any Unicode decimal digit: ５, ٣, ३


def _fullwidth(m: re.Match[str]) -> str:
    return chr(ord(m.group()) - 0xFEE0)


def _title(m: re.Match[str]) -> str:
    return _TITLES[m["t"]]


def _doctor(m: re.Match[str]) -> str:
    before = m.string[: m.start()].rstrip().rsplit(" ", 1)[-1]
    if not _SENTENCE_START.match(m.string[m.end() :]) and before[:1].isupper():
        return "Drive" + ("." if _ends_sentence(m) else "")  # Mulholland Dr.
    return "Doctor" + ("." if _ends_sentence(m, strict=True) else "")


def _saint(m: re.Match[str]) -> str:
    if _SENTENCE_START.match(m.string, m.end()):
        return "Saint"  # St. Louis; a street name comes before St., not after it
    return "Street" + ("." if _ends_sentence(m) else "")


def _junior_senior(m: re.Match[str]) -> str:
    return ("Junior" if m["t"] == "Jr" else "Senior") + ("." if _ends_sentence(m) else "")


def _latin(m: re.Match[str]) -> str:
    keep = bool(m["dot"]) and _ends_sentence(m, strict=True)
    return _same_case(m.group(), _LATIN[m["t"].lower()]) + ("." if keep else "")


def _etc(m: re.Match[str]) -> str:
    return "et cetera" + ("." if _ends_sentence(m) else "")


def _number_sign(m: re.Match[str]) -> str:
    return "number "


def _month_abbr(m: re.Match[str]) -> str:
    keep = m["dot"] and _ends_sentence(m) and not re.match(r"\s*\d", m.string[m.end() :])
    return _MONTH_ABBR[m["t"]] + ("." if keep else "")


def _iso_date(m: re.Match[str]) -> str:
    month, day = int(m["month"]), int(m["day"])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group()
    return f"{_MONTHS[month - 1]} {en_ordinal(day)}, {en_year(int(m['year']))}"


def _month_day(m: re.Match[str]) -> str:
    day = int(m["day"])
    if not 1 <= day <= 31:
        return m.group()
    text = f"{m['month']} {en_ordinal(day)}"
    return text + (m["sep"] + en_year(int(m["year"])) if m["year"] else "")


def _day_month(m: re.Match[str]) -> str:
    day = int(m["day"])
    if not 1 <= day <= 31:
        return m.group()
    article = "" if re.search(r"\bthe\s+$", m.string[: m.start()], re.IGNORECASE) else "the "
    text = f"{article}{en_ordinal(day)} of {m['month']}"
    return text + (", " + en_year(int(m["year"])) if m["year"] else "")


def _month_year(m: re.Match[str]) -> str:
    return f"{m['month']} {en_year(int(m['year']))}"


def _phone(m: re.Match[str]) -> str:
    if not (m["cc"] or m["area"] or m["area2"]) and (
        m["ex"][0] in "01" or (m["ex"].endswith("00") and m["line"].endswith("00"))
    ):
        return m.group()  # no exchange starts with 0 or 1, and 300-1000 is a range
    groups: list[str] = []
    if m["cc"]:
        groups.append(("plus " if m["plus"] else "") + en_digits(m["cc"]))
    groups += [en_digits(m[g]) for g in ("area", "area2", "ex", "line") if m[g]]
    return ", ".join(groups)


def _ampm(m: re.Match[str]) -> str:
    ap = m["ap"]
    text = f"{ap[0].lower()} m"
    return text + ("." if ap.endswith(".") and _ends_sentence(m) else "")


def _time(m: re.Match[str]) -> str:
    hour, minute, second = int(m["h"]), int(m["m"]), int(m["s"] or 0)
    if hour > 24 or minute > 59 or second > 59 or (m["ap"] and not 1 <= hour <= 12):
        return m.group()
    text = en_cardinal(hour)
    if minute:
        text += f" oh {en_cardinal(minute)}" if minute < 10 else f" {en_cardinal(minute)}"
    elif not m["ap"]:
        text += " o'clock" if 1 <= hour <= 12 else " hundred"
    if second:
        text += f" and {en_cardinal(second)} second" + ("s" if second != 1 else "")
    return text + (" " + _ampm(m) if m["ap"] else "")


def _hour(m: re.Match[str]) -> str:
    hour = int(m["h"])
    return m.group() if not 1 <= hour <= 12 else f"{en_cardinal(hour)} {_ampm(m)}"


def _to(m: re.Match[str]) -> str:
    return " to "


def _ratio(m: re.Match[str]) -> str:
    return f"{en_number(m['a'])} to {en_number(m['b'])}"


def _money_words(num: str, currency: str, magnitude: str | None = None) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[currency]
    num = num.replace(",", "")
    if magnitude:
        return f"{en_number(num)} {magnitude} {many}"
    whole, _, frac = num.partition(".")
    if not sub_one or len(frac) > 2:
        return f"{en_number(num)} {one if num == '1' else many}"
    units, cents = int(whole), int(frac.ljust(2, "0")) if frac else 0
    parts: list[str] = []
    if units or not cents:
        parts.append(f"{en_cardinal(units)} {one if units == 1 else many}")
    if cents:
        parts.append(f"{en_cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _money(m: re.Match[str]) -> str:
    magnitude = m["mag"] or _MAGNITUDES.get(m["abbr"] or "")
    return ("minus " if m["neg"] else "") + _money_words(m["num"], m["cur"], magnitude)


def _money_range(m: re.Match[str]) -> str:
    a, b = m["a"].replace(",", ""), m["b"].replace(",", "")
    if "." in a or "." in b:
        return f"{_money_words(a, m['cur'])} to {_money_words(b, m['cur'])}"
    return f"{en_number(a)} to {_money_words(b, m['cur'])}"


def _currency_code(m: re.Match[str]) -> str:
    return ("minus " if m["neg"] else "") + _money_words(m["num"], _CURRENCY_CODES[m["code"]])


def _per(symbol: str) -> str:
    return "percent" if symbol == "%" else "per mille"


def _percent_range(m: re.Match[str]) -> str:
    return f"{en_number(m['a'])} to {en_number(m['b'])} {_per(m['sym'])}"


def _percent(m: re.Match[str]) -> str:
    return ("minus " if m["neg"] else "") + f"{en_number(m['num'])} {_per(m['sym'])}"


def _decade(m: re.Match[str]) -> str:
    if m["full"]:
        return en_plural_number(en_year(int(m["full"])))
    return (m["lead"] or "") + en_plural_number(en_cardinal(int(m["short"])))


def _year_span(m: re.Match[str]) -> str:
    sep = "to" if m["sep"] in "-–—" else m["sep"]
    return f"{m['word']} {en_year(int(m['a']))} {sep} {en_year(int(m['b']))}"


def _year_after_word(m: re.Match[str]) -> str:
    return m["word"] + m["space"] + en_year(int(m["year"]))


def _year(m: re.Match[str]) -> str:
    return en_year(int(m.group()))


def _subtract(m: re.Match[str]) -> str:
    return " minus "


def _operator(m: re.Match[str]) -> str:
    return f" {_OPERATORS[m['op']]} "


def _by(m: re.Match[str]) -> str:
    return " by "


def _times(m: re.Match[str]) -> str:
    return " times"


def _emergency(m: re.Match[str]) -> str:
    return m["word"] + m["space"] + en_digits(m["num"])


def _magnitude(m: re.Match[str]) -> str:
    return f"{en_number(m['num'])} {_MAGNITUDES[m['mag']]}"


def _range(m: re.Match[str]) -> str:
    a, b, unit = m["a"].replace(",", ""), m["b"].replace(",", ""), m["unit"]
    sign = "minus " if m["neg"] else ""
    if unit is None and not m["neg"] and re.fullmatch(_YEAR, a) and re.fullmatch(_YEAR, b):
        return f"{en_year(int(a))} to {en_year(int(b))}"
    text = f"{sign}{en_number(a)} to {en_number(b)}"
    return text + (f" {_UNITS[unit][1]}" if unit else "")


def _one_unit(m: re.Match[str]) -> str:
    num = m["num"].replace(",", "")
    return f"{en_number(num)} {_unit_words(num, m['unit'])}"


def _units(m: re.Match[str]) -> str:
    """Quantities with units, possibly chained: 2h30min → two hours thirty minutes."""
    return ("minus " if m["neg"] else "") + _QUANTITY.sub(_one_unit, m["chain"])


def _ordinal(m: re.Match[str]) -> str:
    return en_ordinal(int(m["num"].replace(",", "")))


def _twenty_four_seven(m: re.Match[str]) -> str:
    return "twenty-four seven"


def _mixed_fraction(m: re.Match[str]) -> str:
    return f"{en_number(m['w'])} and {en_fraction(int(m['a']), int(m['b']))}"


def _fraction(m: re.Match[str]) -> str:
    if m["a"] == m["b"] and not m["neg"]:
        return f"{en_number(m['a'])} {en_number(m['b'])}"  # fifty-fifty odds, not one whole
    return ("minus " if m["neg"] else "") + en_fraction(int(m["a"]), int(m["b"]))


def _dotted(m: re.Match[str]) -> str:
    return " point ".join(en_number(part) for part in m.group().split("."))


def _number(m: re.Match[str]) -> str:
    num = m["num"].replace(",", "")
    sign = "minus " if m["neg"] else ""
    start = m.start()
    if start > 0 and m.string[start - 1].isascii() and m.string[start - 1].isalpha() and len(num) >= 4:
        return en_digits(num)  # a code glued to letters: UA1234, SF1234567890
    if "." not in num and (len(num) > 15 or (num[0] == "0" and len(num) > 1 and "," not in m["num"])):
        return sign + en_digits(num)
    return sign + en_number(num)


def _bare_fraction(m: re.Match[str]) -> str:
    return "point " + en_digits(m["frac"])


def _symbol(m: re.Match[str]) -> str:
    glued = m.start() > 0 and m.string[m.start() - 1] in _SYMBOLS  # C++ → C plus plus
    return (" " if glued else "") + _SYMBOLS[m.group()]


def _loose_ampm(m: re.Match[str]) -> str:
    return _ampm(m)


def _padded(replace: Replacement) -> Replacement:
    def run(m: re.Match[str]) -> str:
        words = replace(m)
        return words if words == m.group() else _pad(m, words)

    return run


_RULES: tuple[Rule, ...] = tuple(
    (pattern, _padded(replace))
    for pattern, replace in (
        # Digits of any script and full-width symbols become ASCII.
        (re.compile(r"(?![0-9])\d"), _ascii_digit),
        (re.compile(r"[％＋＝＄＆＠＃－～＜＞]"), _fullwidth),
        (re.compile(r"(?<=\d)[．：／](?=\d)"), _fullwidth),
        # Abbreviations (months first, so that dates see full month names).
        (re.compile(r"\b(?P<t>Mrs|Mr|Ms|Prof)\.(?=\s)"), _title),
        (re.compile(r"\bDr\."), _doctor),
        (re.compile(r"\bSt\."), _saint),
        (re.compile(r"\b(?P<t>Jr|Sr)\."), _junior_senior),
        (re.compile(r"\b(?P<t>[Ee]\.g|[Ii]\.e|vs|approx|cf)(?P<dot>\.)"), _latin),
        (re.compile(r"\b(?P<t>vs)(?P<dot>)(?=\s)"), _latin),
        (re.compile(r"\betc\."), _etc),
        (re.compile(r"\b[Nn]o\.\s?(?=\d)|#(?=\d)"), _number_sign),
        (
            re.compile(r"\b(?P<t>Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)(?:(?P<dot>\.)|(?=\s+\d))"),
            _month_abbr,
        ),
        # Dates.
        (re.compile(r"(?<![\d-])(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?![\d-])"), _iso_date),
        (re.compile(r"(?<![\d/])(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})(?![\d/])"), _iso_date),
        (
            re.compile(
                r"\b(?P<month>" + _MONTH_ALT + r")\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?![:.,]\d)"
                r"(?:(?P<sep>,?\s+)(?P<year>\d{4})\b)?"
            ),
            _month_day,
        ),
        (
            re.compile(
                r"(?<![\d.,])\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?"
                r"(?P<month>" + _MONTH_ALT + r")\b(?:,?\s+(?P<year>\d{4})\b)?"
            ),
            _day_month,
        ),
        (re.compile(r"\b(?P<month>" + _MONTH_ALT + r")\s+(?P<year>\d{4})\b"), _month_year),
        # Phone numbers, read in digit groups.
        (
            re.compile(
                r"(?<![\w+])(?:(?P<plus>\+)?(?P<cc>\d{1,3})[\s.-])?"
                r"(?:\((?P<area>\d{3})\)\s?|(?P<area2>\d{3})[.-])?(?P<ex>\d{3})[.-](?P<line>\d{4})(?![\d-])"
            ),
            _phone,
        ),
        # Clock times (a dash between two of them is "to"); n:m that is not a time is a ratio or score.
        (re.compile(r"(?<=\d:\d\d)\s*[-–—~]\s*(?=\d{1,2}:\d\d)"), _to),
        (
            re.compile(
                r"(?<![\d:.])(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?![\d:])"
                r"(?:\s?" + _AMPM + ")?"
            ),
            _time,
        ),
        (re.compile(r"(?<![\d:.])(?P<h>\d{1,2})\s?" + _AMPM), _hour),
        (re.compile(r"(?<![\d.:])(?P<a>\d+):(?P<b>\d+)(?![\d:])"), _ratio),
        # Money and percentages.
        (
            re.compile(r"(?P<cur>[$€£¥￥])(?P<a>" + _NUMC + r")\s*[-–—~]\s*(?P=cur)?(?P<b>" + _NUMC + r")"),
            _money_range,
        ),
        (
            re.compile(
                _NEG + r"(?P<cur>[$€£¥￥])\s?(?P<num>" + _NUMC + r")"
                r"(?:\s?(?P<mag>thousand|million|billion|trillion)\b|(?P<abbr>mn|bn|[kKmMbB])\b)?"
            ),
            _money,
        ),
        (
            re.compile(_NEG + r"(?<![\d.,])(?P<num>" + _NUMC + r")\s?(?P<code>USD|EUR|GBP|CNY|RMB)\b"),
            _currency_code,
        ),
        (
            re.compile(r"(?<![\d.])(?P<a>" + _NUM + r")%?\s*[-–—~]\s*(?P<b>" + _NUM + r")\s?(?P<sym>[%‰])"),
            _percent_range,
        ),
        (re.compile(_NEG + r"(?<![\d.,])(?P<num>" + _NUMC + r")\s?(?P<sym>[%‰])"), _percent),
        # Decades and years.
        (
            re.compile(
                r"(?<![\d'])(?:\b(?P<full>1\d{2}0|20\d0)s\b|(?P<lead>'|\b(?:the|early|late|mid)[\s-]+)"
                r"(?P<short>\d0)s\b)"
            ),
            _decade,
        ),
        (
            re.compile(
                r"\b(?P<word>[Ff]rom|[Bb]etween)\s+(?P<a>" + _YEAR + r")"
                r"\s*(?P<sep>to|and|through|-|–|—)\s*(?P<b>" + _YEAR + r")\b"
            ),
            _year_span,
        ),
        (
            re.compile(
                r"\b(?P<word>(?i:in|since|by|from|until|till|through|during|before|after|around|circa|year"
                r"|early|late|mid))(?P<space>\s+)(?P<year>" + _YEAR + r")\b"
                r"(?![.,]\d|\s*[-–—~%]|\s?(?:" + _UNIT_ALT + r")\b)"
            ),
            _year_after_word,
        ),
        (re.compile(r"(?<![\d,.$£€¥#\-–—~/:])\b" + _YEAR + r"\b(?=\s*[,;!?)]|\.(?!\d)|\s*$)"), _year),
        # Arithmetic before ranges: 5 - 3 = 2 subtracts.
        (re.compile(r"(?<=\d)\s*[-−]\s*(?=\d+(?:\.\d+)?\s*=)"), _subtract),
        (re.compile(r"(?<=\d)\s*(?P<op>[+×÷*=<>])\s*(?=[-−]?\d)"), _operator),
        (re.compile(r"(?<=\d)\s?x\s?(?=\d)"), _by),
        (re.compile(r"(?<=\d)x\b"), _times),
        # Emergency numbers, and millions written 1.5M.
        (
            re.compile(r"\b(?P<word>(?i:call|dial|phone|text))(?P<space>\s+)(?P<num>911|999|112)\b"),
            _emergency,
        ),
        (re.compile(r"(?<![\w.])(?P<num>" + _NUM + r")(?P<mag>M|mn|bn)\b"), _magnitude),
        # Ranges and quantities with units.
        (
            re.compile(
                _NEG + r"(?<![\d.:/])(?P<a>" + _NUMC + r")\s*[-–—~]\s*(?P<b>" + _NUMC + r")"
                r"(?![\d:/]|\.\d)(?:\s?(?P<unit>" + _UNIT_ALT + r")(?![A-Za-z]))?"
            ),
            _range,
        ),
        (
            re.compile(r"(?<![A-Za-z\d.,])" + _NEG + _UNIT_CHAIN),
            _units,
        ),
        # Ordinals, fractions, dotted sequences, then any remaining number.
        (re.compile(r"(?<![\d.,])(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th)\b"), _ordinal),
        (re.compile(r"(?<![\d/])\b24/7\b(?!/)"), _twenty_four_seven),
        (re.compile(r"(?<![\d./])(?P<w>\d+)\s+(?P<a>\d+)/(?P<b>\d+)(?![\d/])"), _mixed_fraction),
        (re.compile(_NEG + r"(?<![\d./])(?P<a>\d+)/(?P<b>\d+)(?![\d/])"), _fraction),
        (re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?!\d)"), _dotted),
        (re.compile(r"(?<![\w.])\.(?P<frac>\d+)"), _bare_fraction),
        (re.compile(_NEG + r"(?<!\d)(?P<num>" + _NUMC + r")"), _number),
        # Symbols and a.m./p.m. left over.
        (re.compile(r"\b(?P<ap>[AaPp]\.\s?[Mm]\.)"), _loose_ampm),
        (re.compile(r"[&%‰=@+×÷℃℉]"), _symbol),
    )
)


def normalize_en(text: str) -> str:
    """Rewrite digits, symbols and abbreviations of an English sentence into spoken words."""
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text
