"""Number readers: digit strings to the words a speaker says, in Chinese and English."""

from __future__ import annotations

import re

_ZH_DIGITS = "零一二三四五六七八九"
_ZH_SMALL_UNITS = ("", "十", "百", "千")
_ZH_BIG_UNITS = ((10**8, "亿"), (10**4, "万"))

_EN_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion")
_EN_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_EN_LAST_WORD = re.compile(r"([a-z]+)$")


def _split_sign(s: str) -> tuple[bool, str]:
    """Return (negative, unsigned digits) of a number string, dropping thousands separators."""
    s = s.strip().replace(",", "")
    if s[:1] in ("-", "−"):
        return True, s[1:]
    return False, s.lstrip("+")


def _check_digits(s: str) -> None:
    if not s or not s.isascii() or not s.isdigit():
        raise ValueError(f"not a digit string: {s!r}")


# --- Chinese -----------------------------------------------------------------------------------


def _zh_section(n: int, leading: bool) -> str:
    """Read 0 < n < 10000; a run of zeros between non-zero digits is read as one 零."""
    out: list[str] = []
    pending_zero = False
    for power in (3, 2, 1, 0):
        digit = n // 10**power % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        # 10-19 at the head of a number drop the 一: 十二, but 一百一十 keeps it.
        if not (power == 1 and digit == 1 and not out and leading):
            out.append(_ZH_DIGITS[digit])
        out.append(_ZH_SMALL_UNITS[power])
    return "".join(out)


def _zh_int(n: int, leading: bool = True) -> str:
    for value, unit in _ZH_BIG_UNITS:
        if n >= value:
            high, low = divmod(n, value)
            text = _zh_int(high, leading) + unit
            if low:
                if low < value // 10:
                    text += "零"
                text += _zh_int(low, leading=False)
            return text
    return _zh_section(n, leading)


def zh_cardinal(s: str, liang: bool = False) -> str:
    """Read an integer digit string in Chinese: 1005 → 一千零五, 10010 → 一万零一十.

    A leading 2 before 千/万/亿 is always 两 (两千, 两万). With ``liang`` (before a measure word)
    a lone 2 and a leading 2 before 百 are 两 too: 两个, 两百块; otherwise 二, 二百.
    """
    negative, digits = _split_sign(s)
    _check_digits(digits)
    n = int(digits)
    text = _zh_int(n) if n else "零"
    if text[0] == "二" and (
        (len(text) == 1 and liang) or (len(text) > 1 and (text[1] in "千万亿" or (liang and text[1] == "百")))
    ):
        text = "两" + text[1:]
    return "负" + text if negative else text


def zh_digits(s: str, yao: bool = False) -> str:
    """Read digit by digit (二零二四); with ``yao`` 1 is 幺 as in phone numbers. Non-digits are dropped."""
    table = "零幺二三四五六七八九" if yao else _ZH_DIGITS
    return "".join(table[int(c)] for c in s if c.isascii() and c.isdigit())


def zh_decimal(s: str) -> str:
    """Read a decimal: 3.14 → 三点一四, -0.5 → 负零点五, 2.50 → 二点五零."""
    negative, body = _split_sign(s)
    whole, _, frac = body.partition(".")
    text = zh_cardinal(whole or "0")
    if frac:
        _check_digits(frac)
        text += "点" + zh_digits(frac)
    return "负" + text if negative else text


def zh_number(s: str, liang: bool = False) -> str:
    """Read a signed integer or decimal string in Chinese."""
    return zh_decimal(s) if "." in s else zh_cardinal(s, liang)


def zh_fraction(numerator: str, denominator: str) -> str:
    """Read a fraction: (3, 4) → 四分之三; a sign on either part makes it 负."""
    neg_num, num = _split_sign(numerator)
    neg_den, den = _split_sign(denominator)
    text = f"{zh_number(den)}分之{zh_number(num)}"
    return "负" + text if neg_num != neg_den else text


# --- English -----------------------------------------------------------------------------------


def _en_below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words: list[str] = []
    if hundreds:
        words.append(f"{_EN_ONES[hundreds]} hundred")
    if rest or not hundreds:
        if rest < 20:
            words.append(_EN_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            words.append(_EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else ""))
    return " ".join(words)


def en_cardinal(n: int) -> str:
    """Read an integer in English: 123 → one hundred twenty-three, -5 → minus five."""
    if n < 0:
        return "minus " + en_cardinal(-n)
    if n < 1000:
        return _en_below_1000(n)
    if n >= 1000 ** len(_EN_SCALES):
        return en_digits(str(n))
    words: list[str] = []
    for power in range(len(_EN_SCALES) - 1, -1, -1):
        chunk = n // 1000**power % 1000
        if chunk:
            words.append(_en_below_1000(chunk) + (f" {_EN_SCALES[power]}" if power else ""))
    return " ".join(words)


def _en_ordinal_word(word: str) -> str:
    if word in _EN_ORDINAL_IRREGULAR:
        return _EN_ORDINAL_IRREGULAR[word]
    if word.endswith("y"):
        return word[:-1] + "ieth"
    return word + "th"


def en_ordinal(n: int) -> str:
    """Read an ordinal: 1 → first, 21 → twenty-first, 100 → one hundredth."""
    return _EN_LAST_WORD.sub(lambda m: _en_ordinal_word(m.group(1)), en_cardinal(n))


def en_year(n: int) -> str:
    """Read a year: 1999 → nineteen ninety-nine, 2005 → two thousand five, 1805 → eighteen oh five."""
    if not 1000 <= n <= 9999:
        return en_cardinal(n)
    high, low = divmod(n, 100)
    if high % 10 == 0 and low < 10:
        return en_cardinal(n)
    if low == 0:
        return f"{en_cardinal(high)} hundred"
    if low < 10:
        return f"{en_cardinal(high)} oh {_EN_ONES[low]}"
    return f"{en_cardinal(high)} {en_cardinal(low)}"


def en_digits(s: str) -> str:
    """Read digit by digit, 0 as "zero": 5551234 → five five five one two three four."""
    return " ".join(_EN_ONES[int(c)] for c in s if c.isascii() and c.isdigit())


def en_decimal(s: str) -> str:
    """Read a decimal: 3.14 → three point one four, -0.5 → minus zero point five."""
    negative, body = _split_sign(s)
    whole, _, frac = body.partition(".")
    if whole:
        _check_digits(whole)
    text = en_cardinal(int(whole or "0"))
    if frac:
        _check_digits(frac)
        text += " point " + en_digits(frac)
    return "minus " + text if negative else text


def en_number(s: str) -> str:
    """Read a signed integer or decimal string in English."""
    negative, body = _split_sign(s)
    if "." in body:
        return en_decimal(s)
    _check_digits(body)
    text = en_cardinal(int(body))
    return "minus " + text if negative else text


def _plural(word: str) -> str:
    if word.endswith("y"):
        return word[:-1] + "ies"
    if word.endswith("f"):
        return word[:-1] + "ves"
    if word.endswith("x"):
        return word + "es"
    return word + "s"


def en_fraction(numerator: int, denominator: int) -> str:
    """Read a fraction: 1/2 → one half, 3/4 → three quarters, 5/8 → five eighths."""
    if denominator == 0:
        return f"{en_cardinal(numerator)} over zero"
    if denominator == 1:
        return f"{en_cardinal(numerator)} over one"
    negative = (numerator < 0) != (denominator < 0)
    num, den = abs(numerator), abs(denominator)
    unit = {2: "half", 4: "quarter"}.get(den) or en_ordinal(den)
    if num != 1:
        unit = _EN_LAST_WORD.sub(lambda m: _plural(m.group(1)), unit)
    text = f"{en_cardinal(num)} {unit}"
    return "minus " + text if negative else text


def en_plural_number(words: str) -> str:
    """Pluralise the last word of a reading: nineteen ninety → nineteen nineties (decades)."""
    return _EN_LAST_WORD.sub(lambda m: _plural(m.group(1)), words)
