"""Text normalisation: every expected string is what a native speaker reads aloud."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from talker.text import numbers
from talker.text.normalize import normalize
from talker.text.normalize_en import normalize_en
from talker.text.normalize_zh import normalize_zh

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - hypothesis is a dev extra
    HAVE_HYPOTHESIS = False


def _params(table: dict[str, list[tuple[str, str]]]) -> list[object]:
    return [
        pytest.param(text, expected, id=f"{category}-{index}")
        for category, cases in table.items()
        for index, (text, expected) in enumerate(cases)
    ]


ZH: dict[str, list[tuple[str, str]]] = {
    "integer": [
        ("我有3个苹果", "我有三个苹果"),
        ("他今年25岁", "他今年二十五岁"),
        ("全校共有1005名学生", "全校共有一千零五名学生"),
        ("这个镇有10010人", "这个镇有一万零一十人"),
        ("10", "十"),
        ("110", "一百一十"),
        ("100000000", "一亿"),
        ("总共100100000元", "总共一亿零一十万元"),
        ("这座城市有12000000人", "这座城市有一千二百万人"),
        ("0", "零"),
        ("我买了3个iPhone", "我买了三个iPhone"),
        ("一共1,234,567元", "一共一百二十三万四千五百六十七元"),
        ("我有 3 个苹果", "我有三个苹果"),
        ("我住在3号楼", "我住在三号楼"),
        ("大约20多个人", "大约二十多个人"),
        ("投资3.5亿元", "投资三点五亿元"),
        ("全场打8折", "全场打八折"),
    ],
    "digits": [
        ("特工007", "特工零零七"),
        ("快递单号SF1234567890", "快递单号SF一二三四五六七八九零"),
        ("订单号123456789012345", "订单号一二三四五六七八九零一二三四五"),
    ],
    "liang": [
        ("2个人", "两个人"),
        ("住了2天", "住了两天"),
        ("学了2年", "学了两年"),
        ("去过2次", "去过两次"),
        ("买了2本书", "买了两本书"),
        ("来了2位老师", "来了两位老师"),
        ("有2种颜色", "有两种颜色"),
        ("钓到2条鱼", "钓到两条鱼"),
        ("喝了2杯咖啡", "喝了两杯咖啡"),
        ("花了2000", "花了两千"),
        ("来了2万人", "来了两万人"),
        ("卖了200个", "卖了两百个"),
        ("第2", "第二"),
        ("12个", "十二个"),
        ("22", "二十二"),
        ("2.5", "二点五"),
        ("坐2号线", "坐二号线"),
        ("住在2楼", "住在二楼"),
        ("他上2年级", "他上二年级"),
        ("星期2见", "星期二见"),
        ("2+2=4", "二加二等于四"),
    ],
    "decimal": [
        ("圆周率约为3.14", "圆周率约为三点一四"),
        ("只有0.5", "只有零点五"),
        ("价格是2.50", "价格是二点五零"),
        ("版本1.2.3", "版本一点二点三"),
    ],
    "negative": [
        ("-5", "负五"),
        ("余额是-20元", "余额是负二十元"),
        ("气温-5度", "气温零下五度"),
    ],
    "fraction": [
        ("3/4", "四分之三"),
        ("1/2的人同意", "二分之一的人同意"),
        ("完成了2/3", "完成了三分之二"),
    ],
    "percent": [
        ("50%", "百分之五十"),
        ("增长率为-3.5%", "增长率为负百分之三点五"),
        ("出错率3‰ ", "出错率千分之三 "),
        ("我100%同意", "我百分之百同意"),
        ("利率0.5%", "利率百分之零点五"),
        ("５０％", "百分之五十"),
        ("增长了10%-20%", "增长了百分之十到百分之二十"),
        ("涨了2%", "涨了百分之二"),
    ],
    "ordinal": [
        ("第1", "第一"),
        ("第2名", "第二名"),
        ("第10章", "第十章"),
        ("第3-5名", "第三到五名"),
        ("第2023届", "第二千零二十三届"),
    ],
    "year": [
        ("2024年", "二零二四年"),
        ("1998年", "一九九八年"),
        ("2022年", "二零二二年"),
        ("2020-2024年", "二零二零到二零二四年"),
        ("2020年至2024年", "二零二零年至二零二四年"),
    ],
    "date": [
        ("2024年3月5日", "二零二四年三月五日"),
        ("2024-03-05", "二零二四年三月五日"),
        ("2024/3/5", "二零二四年三月五日"),
        ("2024.3.5", "二零二四年三月五日"),
        ("2024年03月05日", "二零二四年三月五日"),
        ("3月5日", "三月五日"),
        ("12月25日是圣诞节", "十二月二十五日是圣诞节"),
        ("2月2日", "二月二日"),
        ("5月1号放假", "五月一号放假"),
    ],
    "time": [
        ("14:30", "十四点三十分"),
        ("2:05", "两点零五分"),
        ("10:00", "十点"),
        ("8:00:30", "八点零分三十秒"),
        ("上午9点", "上午九点"),
        ("2点", "两点"),
        ("下午3点半", "下午三点半"),
        ("12:00开会", "十二点开会"),
        ("0:30", "零点三十分"),
        ("９：３０", "九点三十分"),
        ("比分3:2", "比分三比二"),
        ("这场比赛以2:1结束", "这场比赛以二比一结束"),
        ("11:30-12:30午休", "十一点三十分到十二点三十分午休"),
        ("2019年12月31日23:59:59", "二零一九年十二月三十一日二十三点五十九分五十九秒"),
    ],
    "duration": [
        ("3小时", "三小时"),
        ("2h", "两小时"),
        ("20min", "二十分钟"),
        ("45s", "四十五秒"),
        ("1.5小时", "一点五小时"),
        ("用了2h30min", "用了两小时三十分钟"),
        ("等了2分钟", "等了两分钟"),
    ],
    "money": [
        ("¥100", "一百元"),
        ("￥9.9", "九点九元"),
        ("$5.99", "五点九九美元"),
        ("€20", "二十欧元"),
        ("£3", "三英镑"),
        ("100元", "一百元"),
        ("3块5", "三块五"),
        ("2块", "两块"),
        ("2元", "两元"),
        ("5美元", "五美元"),
        ("$2", "两美元"),
        ("¥2万", "两万元"),
        ("100USD", "一百美元"),
        ("苹果5元/斤", "苹果五元每斤"),
    ],
    "phone": [
        ("13812345678", "幺三八，幺二三四，五六七八"),
        ("138-1234-5678", "幺三八，幺二三四，五六七八"),
        ("010-12345678", "零幺零，幺二三四五六七八"),
        ("400-800-1234", "四零零，八零零，幺二三四"),
        ("拨打110", "拨打幺幺零"),
        ("请拨打120急救", "请拨打幺二零急救"),
        ("致电10086", "致电幺零零八六"),
        ("客服热线95588", "客服热线九五五八八"),
        ("电话：13812345678", "电话：幺三八，幺二三四，五六七八"),
        ("+86 138 1234 5678", "加八六，幺三八，幺二三四，五六七八"),
        ("遇到危险打110报警", "遇到危险打幺幺零报警"),
    ],
    "range": [
        ("3-5个", "三到五个"),
        ("3~5天", "三到五天"),
        ("10-20公里", "十到二十公里"),
        ("2-3个", "两到三个"),
        ("20~25℃", "二十到二十五摄氏度"),
        ("3到5个", "三到五个"),
        ("100-200元", "一百到两百元"),
    ],
    "unit": [
        ("5km", "五公里"),
        ("3kg", "三千克"),
        ("25℃", "二十五摄氏度"),
        ("-5℃", "零下五摄氏度"),
        ("100m", "一百米"),
        ("5cm", "五厘米"),
        ("2L", "两升"),
        ("500ml", "五百毫升"),
        ("60km/h", "六十公里每小时"),
        ("16GB", "十六GB"),
        ("1.5kg", "一点五千克"),
        ("跑了5 km", "跑了五公里"),
        ("转了90°", "转了九十度"),
        ("100㎡", "一百平方米"),
        ("5000mAh", "五千毫安时"),
        ("今天气温-3℃到5℃", "今天气温零下三摄氏度到五摄氏度"),
        ("气温在-5~3℃之间", "气温在零下五到三摄氏度之间"),
    ],
    "symbol": [
        ("1+1=2", "一加一等于二"),
        ("5-3=2", "五减三等于二"),
        ("3×4=12", "三乘四等于十二"),
        ("6÷2=3", "六除以二等于三"),
        ("A&B公司", "A和B公司"),
        ("@小明", "艾特小明"),
        ("按#号键", "按井号键"),
        ("按#键", "按井号键"),
        ("１２３", "一百二十三"),
    ],
    "sentence": [
        (
            "2024年3月5日下午2:30，我花了¥1,280买了2台16GB的手机。",
            "二零二四年三月五日下午两点三十分，我花了一千二百八十元买了两台十六GB的手机。",
        ),
        ("iPhone 15 Pro售价5999元", "iPhone 十五 Pro售价五千九百九十九元"),
        ("会议定在3月5日14:00，预计2小时。", "会议定在三月五日十四点，预计两小时。"),
    ],
}

EN: dict[str, list[tuple[str, str]]] = {
    "integer": [
        ("I have 1,234 apples.", "I have one thousand two hundred thirty-four apples."),
        ("There are 7 days.", "There are seven days."),
        ("0", "zero"),
        ("It has 1000000 users.", "It has one million users."),
        ("Agent 007.", "Agent zero zero seven."),
        ("Room 123", "Room one hundred twenty-three"),
        ("An MP3 player.", "An MP three player."),
        ("Flight UA1234 is late.", "Flight UA one two three four is late."),
        ("Over 10,000 people came.", "Over ten thousand people came."),
        ("We sold 1.5M units.", "We sold one point five million units."),
        ("It grew 5x in a year.", "It grew five times in a year."),
        ("The room is 4x4 meters.", "The room is four by four meters."),
    ],
    "decimal": [
        ("Pi is 3.14.", "Pi is three point one four."),
        ("It is 0.5 now.", "It is zero point five now."),
        ("Version 1.2.3 is out.", "Version one point two point three is out."),
    ],
    "negative": [
        ("-5", "minus five"),
        ("It was -12 today.", "It was minus twelve today."),
    ],
    "fraction": [
        ("Add 1/2 cup.", "Add one half cup."),
        ("About 3/4 of us.", "About three quarters of us."),
        ("Only 2/3 left.", "Only two thirds left."),
        ("Use 5/8 of it.", "Use five eighths of it."),
        ("1/3", "one third"),
        ("1/10", "one tenth"),
        ("Take 1 1/2 cups.", "Take one and one half cups."),
        ("Open 24/7.", "Open twenty-four seven."),
        ("It was 50/50.", "It was fifty fifty."),
    ],
    "percent": [
        ("About 50% of them.", "About fifty percent of them."),
        ("A drop of -3.5% today.", "A drop of minus three point five percent today."),
        ("100%", "one hundred percent"),
        ("Up 10-20% this year.", "Up ten to twenty percent this year."),
    ],
    "ordinal": [
        ("1st", "first"),
        ("2nd", "second"),
        ("3rd", "third"),
        ("21st", "twenty-first"),
        ("100th", "one hundredth"),
        ("12th", "twelfth"),
        ("the 22nd time", "the twenty-second time"),
    ],
    "year": [
        ("It happened in 1999.", "It happened in nineteen ninety-nine."),
        ("Since 2005 things changed.", "Since two thousand five things changed."),
        ("We met in 2024, then left.", "We met in twenty twenty-four, then left."),
        ("The year was 2024.", "The year was twenty twenty-four."),
        ("Music of the 1990s.", "Music of the nineteen nineties."),
        ("Back in the 80s.", "Back in the eighties."),
        ("Built in 1905.", "Built in nineteen oh five."),
        ("Built in 1805.", "Built in eighteen oh five."),
        ("In 1900 it began.", "In nineteen hundred it began."),
        ("Since 2010 it grew.", "Since twenty ten it grew."),
        ("From 2010 to 2020.", "From twenty ten to twenty twenty."),
        ("In 2000 the world changed.", "In two thousand the world changed."),
    ],
    "date": [
        ("It was March 5, 2024 when we met.", "It was March fifth, twenty twenty-four when we met."),
        ("Due 2024-03-05.", "Due March fifth, twenty twenty-four."),
        ("On 5 March 2024 we left.", "On the fifth of March, twenty twenty-four we left."),
        ("See you March 5th.", "See you March fifth."),
        ("He was born on July 4, 1776.", "He was born on July fourth, seventeen seventy-six."),
        ("Born Jan. 5, 2000.", "Born January fifth, two thousand."),
        ("The 5th of March.", "The fifth of March."),
        ("On 12/25/2024 we rest.", "On December twenty-fifth, twenty twenty-four we rest."),
        ("In May 2024 it rained.", "In May twenty twenty-four it rained."),
    ],
    "time": [
        ("Meet at 3:30 pm today.", "Meet at three thirty p m today."),
        ("At 10:05 the bus left.", "At ten oh five the bus left."),
        ("Wake at 7:00 and eat.", "Wake at seven o'clock and eat."),
        ("At 12:00 am sharp.", "At twelve a m sharp."),
        ("Call me at 3pm.", "Call me at three p m."),
        ("Meet at 5 p.m. tomorrow.", "Meet at five p m tomorrow."),
        ("Open until 9:45 p.m.", "Open until nine forty-five p m."),
        ("The score was 3:2.", "The score was three to two."),
    ],
    "duration": [
        ("It takes 2h 30min to finish.", "It takes two hours thirty minutes to finish."),
        ("Wait 45 s please.", "Wait forty-five seconds please."),
        ("Just 1 h left.", "Just one hour left."),
        ("It took 90 min.", "It took ninety minutes."),
    ],
    "money": [
        ("It costs $5.99 now.", "It costs five dollars and ninety-nine cents now."),
        ("Only $1 for a pen.", "Only one dollar for a pen."),
        ("Just $0.50 more.", "Just fifty cents more."),
        ("Pay €20.", "Pay twenty euros."),
        ("It is ¥100.", "It is one hundred yuan."),
        ("Pay £3.", "Pay three pounds."),
        ("They raised $2.5 million.", "They raised two point five million dollars."),
        ("It is 100 USD.", "It is one hundred dollars."),
        ("It costs $1,000.", "It costs one thousand dollars."),
        ("It costs £2.50.", "It costs two pounds and fifty pence."),
        ("Tickets are $5-10.", "Tickets are five to ten dollars."),
        ("Only €1.", "Only one euro."),
        ("He got $3k.", "He got three thousand dollars."),
    ],
    "phone": [
        ("Call 555-1234 now.", "Call five five five, one two three four now."),
        (
            "Call +1 (555) 123-4567 today.",
            "Call plus one, five five five, one two three, four five six seven today.",
        ),
        ("Call (555) 123-4567.", "Call five five five, one two three, four five six seven."),
        ("Call 1-800-555-1234.", "Call one, eight zero zero, five five five, one two three four."),
        ("Call 911 now.", "Call nine one one now."),
    ],
    "range": [
        ("Read 3-5 books.", "Read three to five books."),
        ("See pages 10–20.", "See pages ten to twenty."),
        ("Walk 3-5 km.", "Walk three to five kilometers."),
        ("From 1990-1995 it grew.", "From nineteen ninety to nineteen ninety-five it grew."),
        ("Count 300-1000 words.", "Count three hundred to one thousand words."),
    ],
    "unit": [
        ("It is 5 km away.", "It is five kilometers away."),
        ("Only 1 km more.", "Only one kilometer more."),
        ("It weighs 3kg.", "It weighs three kilograms."),
        ("It is 25℃.", "It is twenty-five degrees Celsius."),
        ("It is 25°C.", "It is twenty-five degrees Celsius."),
        ("It is 77°F.", "It is seventy-seven degrees Fahrenheit."),
        ("It is -5°C.", "It is minus five degrees Celsius."),
        ("It has 16GB of storage.", "It has sixteen gigabytes of storage."),
        ("It uses 100 MB.", "It uses one hundred megabytes."),
        ("Drive 60 mph.", "Drive sixty miles per hour."),
        ("It is 5 cm long.", "It is five centimeters long."),
        ("Buy 2 L of milk.", "Buy two liters of milk."),
        ("Add 500 ml of water.", "Add five hundred milliliters of water."),
        ("It runs at 3.5 GHz.", "It runs at three point five gigahertz."),
        ("I'm 6 ft tall.", "I'm six feet tall."),
    ],
    "abbreviation": [
        ("Dr. Smith is here.", "Doctor Smith is here."),
        ("Mr. Jones met Mrs. Brown.", "Mister Jones met Missus Brown."),
        ("Ms. White left.", "Miz White left."),
        ("I live on Main St.", "I live on Main Street."),
        ("We went to St. Louis.", "We went to Saint Louis."),
        ("Fruit, e.g. apples.", "Fruit, for example apples."),
        ("Red ones, i.e. ripe.", "Red ones, that is ripe."),
        ("Pens, paper, etc.", "Pens, paper, et cetera."),
        ("Cats vs. dogs.", "Cats versus dogs."),
        ("It is No. 5 on the list.", "It is number five on the list."),
        ("It weighs approx. 5 kg.", "It weighs approximately five kilograms."),
        ("Due Feb. 3.", "Due February third."),
        ("Item #5 here.", "Item number five here."),
    ],
    "symbol": [
        ("Apples & pears.", "Apples and pears."),
        ("I code in C++ at R&D.", "I code in C plus plus at R and D."),
        ("2 + 2 = 4", "two plus two equals four"),
        ("5 - 3 = 2", "five minus three equals two"),
        ("Let x = 5.", "Let x equals five."),
        ("３ apples", "three apples"),
    ],
    "sentence": [
        (
            "On March 5, 2024 at 3:30 pm, Dr. Lee paid $12.50 for 2 kg of apples.",
            "On March fifth, twenty twenty-four at three thirty p m, Doctor Lee paid twelve dollars and "
            "fifty cents for two kilograms of apples.",
        ),
    ],
}

NUMBERS: list[tuple[Callable[[], str], str]] = [
    (lambda: numbers.zh_cardinal("1005"), "一千零五"),
    (lambda: numbers.zh_cardinal("10010"), "一万零一十"),
    (lambda: numbers.zh_cardinal("10"), "十"),
    (lambda: numbers.zh_cardinal("15"), "十五"),
    (lambda: numbers.zh_cardinal("110"), "一百一十"),
    (lambda: numbers.zh_cardinal("100000000"), "一亿"),
    (lambda: numbers.zh_cardinal("100000"), "十万"),
    (lambda: numbers.zh_cardinal("1020"), "一千零二十"),
    (lambda: numbers.zh_cardinal("100010000"), "一亿零一万"),
    (lambda: numbers.zh_cardinal("0"), "零"),
    (lambda: numbers.zh_cardinal("2"), "二"),
    (lambda: numbers.zh_cardinal("2", liang=True), "两"),
    (lambda: numbers.zh_cardinal("2000"), "两千"),
    (lambda: numbers.zh_cardinal("20000", liang=True), "两万"),
    (lambda: numbers.zh_cardinal("200", liang=True), "两百"),
    (lambda: numbers.zh_cardinal("200"), "二百"),
    (lambda: numbers.zh_cardinal("12", liang=True), "十二"),
    (lambda: numbers.zh_cardinal("22", liang=True), "二十二"),
    (lambda: numbers.zh_cardinal("-5"), "负五"),
    (lambda: numbers.zh_decimal("3.14"), "三点一四"),
    (lambda: numbers.zh_decimal("-0.5"), "负零点五"),
    (lambda: numbers.zh_digits("2024"), "二零二四"),
    (lambda: numbers.zh_digits("110", yao=True), "幺幺零"),
    (lambda: numbers.zh_fraction("3", "4"), "四分之三"),
    (lambda: numbers.en_cardinal(123), "one hundred twenty-three"),
    (lambda: numbers.en_cardinal(2005), "two thousand five"),
    (lambda: numbers.en_cardinal(1_000_000), "one million"),
    (lambda: numbers.en_cardinal(-5), "minus five"),
    (lambda: numbers.en_ordinal(1), "first"),
    (lambda: numbers.en_ordinal(21), "twenty-first"),
    (lambda: numbers.en_ordinal(100), "one hundredth"),
    (lambda: numbers.en_year(1999), "nineteen ninety-nine"),
    (lambda: numbers.en_year(2005), "two thousand five"),
    (lambda: numbers.en_year(2024), "twenty twenty-four"),
    (lambda: numbers.en_year(1900), "nineteen hundred"),
    (lambda: numbers.en_year(1805), "eighteen oh five"),
    (lambda: numbers.en_digits("5550"), "five five five zero"),
    (lambda: numbers.en_decimal("3.14"), "three point one four"),
    (lambda: numbers.en_fraction(1, 2), "one half"),
    (lambda: numbers.en_fraction(5, 8), "five eighths"),
]


@pytest.mark.parametrize(("text", "expected"), _params(ZH))
def test_normalize_zh(text: str, expected: str) -> None:
    assert normalize_zh(text) == expected


@pytest.mark.parametrize(("text", "expected"), _params(EN))
def test_normalize_en(text: str, expected: str) -> None:
    assert normalize_en(text) == expected


@pytest.mark.parametrize(("read", "expected"), NUMBERS, ids=[f"numbers-{i}" for i in range(len(NUMBERS))])
def test_number_readers(read: Callable[[], str], expected: str) -> None:
    assert read() == expected


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        pytest.param("我有3个", None, "我有三个", id="auto-zh"),
        pytest.param("I have 3.", None, "I have three.", id="auto-en"),
        pytest.param("3", None, "three", id="auto-digits-only"),
        pytest.param("3个", "zh", "三个", id="forced-zh"),
        pytest.param("3", "en", "three", id="forced-en"),
        pytest.param("2个", "zh-CN", "两个", id="zh-region"),
        pytest.param("", None, "", id="empty"),
    ],
)
def test_normalize_dispatch(text: str, lang: str | None, expected: str) -> None:
    assert normalize(text, lang) == expected


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        normalize("3", "fr")


# --- properties --------------------------------------------------------------------------------

_ZH_FORBIDDEN = re.compile(r"[0-9%$¥￥€℃]")
_DIGIT = re.compile(r"[0-9]")
_ZH_PREFIXES = ["", "", "-", "$", "¥", "￥", "€", "£", "第", "约"]
_ZH_SUFFIXES = ["", "", "%", "‰", "℃", "°C", "个", "元", "年", "月", "日", "号", "km", "kg", "GB", "h", "min",
                "s", "/4", ":30", "-5", "~8", "点", "块", ".5", "＄", "％"]  # fmt: skip
_ZH_GLUE = ["", " ", "，", "的", "和", "iPhone", "。", "到", "/", ":", "-"]
_EN_PREFIXES = ["", "", "-", "$", "€", "£", "¥", "No. ", "#", "in ", "March "]
_EN_SUFFIXES = ["", "", "%", "st", "th", "s", " km", "kg", " GB", "°C", " pm", "/4", ":30", "-5", "–8", ".5",
                ",000", " million", "x"]  # fmt: skip
_EN_GLUE = ["", " ", ", ", " and ", "-", "/", ":", ".", " apples ", "A"]


def _random_text(rng: random.Random, prefixes: list[str], suffixes: list[str], glue: list[str]) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(1, 5)):
        number = str(rng.choice([rng.randint(0, 9), rng.randint(10, 9999), rng.randint(0, 10**14)]))
        parts += [rng.choice(prefixes), number, rng.choice(suffixes), rng.choice(glue)]
    return "".join(parts)


_RNG = random.Random(20240305)
ZH_RANDOM = [_random_text(_RNG, _ZH_PREFIXES, _ZH_SUFFIXES, _ZH_GLUE) for _ in range(300)]
EN_RANDOM = [_random_text(_RNG, _EN_PREFIXES, _EN_SUFFIXES, _EN_GLUE) for _ in range(300)]


def test_zh_output_has_no_digits_or_symbols_fixed_sample() -> None:
    for text in ZH_RANDOM:
        assert not _ZH_FORBIDDEN.search(normalize_zh(text)), text


def test_en_output_has_no_digits_fixed_sample() -> None:
    for text in EN_RANDOM:
        assert not _DIGIT.search(normalize_en(text)), text


if HAVE_HYPOTHESIS:

    @st.composite
    def _texts(draw: st.DrawFn, prefixes: list[str], suffixes: list[str], glue: list[str]) -> str:
        pieces = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(prefixes),
                    st.one_of(
                        st.integers(min_value=0, max_value=10**16).map(str),
                        st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False).map(str),
                    ),
                    st.sampled_from(suffixes),
                    st.sampled_from(glue),
                ),
                min_size=1,
                max_size=5,
            )
        )
        return "".join("".join(piece) for piece in pieces)

    @settings(max_examples=300, deadline=None)
    @given(_texts(_ZH_PREFIXES, _ZH_SUFFIXES, _ZH_GLUE))
    def test_zh_output_has_no_digits_or_symbols(text: str) -> None:
        assert not _ZH_FORBIDDEN.search(normalize_zh(text))

    @settings(max_examples=300, deadline=None)
    @given(_texts(_EN_PREFIXES, _EN_SUFFIXES, _EN_GLUE))
    def test_en_output_has_no_digits(text: str) -> None:
        assert not _DIGIT.search(normalize_en(text))


@pytest.mark.parametrize("expected", [expected for cases in ZH.values() for _, expected in cases])
def test_zh_is_idempotent(expected: str) -> None:
    assert normalize_zh(expected) == expected


@pytest.mark.parametrize("expected", [expected for cases in EN.values() for _, expected in cases])
def test_en_is_idempotent(expected: str) -> None:
    assert normalize_en(expected) == expected


@pytest.mark.parametrize("func", [normalize_zh, normalize_en, normalize])
def test_empty_string(func: object) -> None:
    assert callable(func)
    assert func("") == ""


@pytest.mark.parametrize(
    "text",
    [
        "今天天气很好，我们去公园散步吧。",
        "你好 世界",
        "他说：“这本书很有意思！”",
        "我喜欢用iPhone拍照。",
        "The quick brown fox jumps over the lazy dog.",
        "Hello, world! How are you today?",
        'She said: "I\'ll be there soon."',
    ],
)
def test_text_without_numbers_is_unchanged(text: str) -> None:
    squash = re.compile(r"\s+")
    assert squash.sub("", normalize(text)) == squash.sub("", text)
