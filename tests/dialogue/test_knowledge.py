"""Knowledge base: readers, chunking, BM25 retrieval on a bilingual bank fact sheet, the FAQ layer, bad input."""

from __future__ import annotations

import io
import itertools
import sqlite3
import threading
from pathlib import Path

import pytest

from talker.dialogue import knowledge
from talker.dialogue.ingest import read_document
from talker.dialogue.knowledge import KnowledgeBase, KnowledgeSettings, chunk_text, tokenize
from talker.errors import InputError

# --- the fact sheet: Pearl River Bank, Harbourview Branch (fictional) ------------------------------

BRANCH_ZH_MD = """\
# 珠江银行海景支行 客户须知

## 营业时间
周一至周五 9:00–17:00；周六 9:30–16:00；周日 10:00–15:00，周日仅办理个人业务。

## 联系方式
客服电话：0755-2688-1234（工作时间接听）。24 小时挂失热线：400-820-5566。传真：0755-2688-1299。

## 地址与交通
地址：深圳市南山区**海景路 88 号**海景大厦一楼。地铁 2 号线海景站 C 出口，步行约 3 分钟。

## 停车
海景大厦地下停车场对办理业务的客户[免费停车 2 小时](https://example.com/parking)，超出部分每小时 10 元。

## 支行负责人
支行行长：林晓雯。个人业务部经理：陈志明，负责理财与贷款咨询。

## 外币兑换
柜台可兑换美元、港币、欧元和日元；每人每日兑换上限为等值 5,000 美元，需携带本人身份证件。

## 保管箱
保管箱年租金：小号 300 元、中号 500 元、大号 800 元；另收押金 1,000 元，退租时退还。
"""

BRANCH_EN_TXT = """\
Pearl River Bank - Harbourview Branch
=====================================

Opening hours: Monday to Friday 9:00 to 17:00. Saturday 9:30 to 16:00. Sunday 10:00 to 15:00, personal banking only.

Contact: customer service 0755-2688-1234. The 24-hour lost card hotline is 400-820-5566.

Address: Ground floor, Harbourview Tower, 88 Haijing Road, Nanshan District, Shenzhen. Take Metro Line 2 to \
Haijing Station, Exit C; the branch is a three-minute walk away.

Accessibility: the entrance has a wheelchair ramp on the east side, and counter 1 is a lowered counter for \
wheelchair users. Guide dogs are welcome.

Languages: our staff speak Mandarin, Cantonese and English. A sign-language interpreter can be booked three days ahead.

Appointments: book a visit in the Pearl River Bank app under "Branch services" to skip the queue. A booking is held \
for 15 minutes.

Free Wi-Fi: join the network PRB-Guest; the password is printed on your queue ticket.
"""

FEE_ROWS = [
    ("Service 服务", "Fee 收费"),
    ("Debit card replacement 借记卡补卡", "20 元 / CNY 20"),
    ("Domestic transfer at the counter 柜台跨行转账",
     "0.1% of the amount, minimum 5 元, maximum 50 元 / 按金额 0.1% 收取，最低 5 元，最高 50 元"),
    ("Account management fee 账户管理费",
     "1 元 per month, waived when the daily average balance is at least 10,000 元 / 日均余额满 1 万元免收"),
    ("SMS alerts 短信通知", "2 元 per month / 每月 2 元"),
    ("Coin counting 硬币清点", "free up to 500 coins, then 1 元 per 100 coins / 500 枚以内免费"),
]

PDF_PAGES = [
    [
        "Lost or stolen card",
        "1. Call the 24-hour hotline 400-820-5566 to freeze the card at once.",
        "2. Bring your ID card to any branch counter to apply for a replacement.",
        "3. The replacement fee is CNY 20; the new card is ready in 7 working days.",
        "4. A temporary card for urgent needs can be issued on the same day.",
        "银行卡挂失与补办",
        "1. 拨打 24 小时热线 400-820-5566，立即冻结卡片。",
        "2. 携带本人身份证到任一网点柜台申请补卡。",
        "3. 补卡费 20 元，新卡 7 个工作日内可领取；急用可当天办理临时卡。",
    ],
    [
        "ATM limits",
        "Daily cash withdrawal limit: CNY 20,000 per card. Each withdrawal: at most CNY 2,500.",
        "Daily ATM transfer limit: CNY 50,000.",
        "ATM 每日取现限额为 2 万元，单笔最多取 2,500 元；每日转账限额 5 万元。",
        "Cash deposit machines accept at most 100 notes at a time. 存款机单次最多存入 100 张钞票。",
    ],
]

HOLIDAYS_HTML = """\
<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>2025 Holiday Schedule 节假日营业安排</title>
<style>body { font-family: sans-serif; } .hotline:after { content: "999-999"; }</style>
<script>var hotline = "call 999-999 for everything"; document.title = "x";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/rates">Exchange rates</a> | <a href="/jobs">Careers</a></nav>
<h1>Holiday schedule 2025 / 2025 年节假日营业安排</h1>
<h2>Spring Festival 春节</h2>
<p>The branch is closed from 28 January to 4 February 2025; ATMs work as usual.
   春节期间 1 月 28 日至 2 月 4 日暂停营业，ATM 照常服务。</p>
<h2>National Day 国庆节</h2>
<p>Closed on 1&ndash;3 October; open 10:00&ndash;15:00 from 4 to 7 October.
   国庆节 10 月 1 日至 3 日休息，4 日至 7 日 10:00–15:00 营业。</p>
<h2>Christmas 圣诞节</h2>
<p>Normal opening hours on 25 December. 圣诞节正常营业。</p>
<footer><p>&copy; Pearl River Bank</p></footer>
</body></html>
"""

# (question, substrings of which the right chunk contains at least one)
QUESTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("星期六银行几点开始营业？", ("9:30",)),
    ("你们支行的行长叫什么名字？", ("林晓雯",)),
    ("网点具体在什么位置，坐地铁怎么去？", ("海景路",)),
    ("在大厦停车要收费吗？", ("免费停车",)),
    ("租一个保险箱一年要多少钱？", ("小号 300 元",)),
    ("一天最多能换多少外币？", ("5,000 美元",)),
    ("银行卡丢了应该怎么办？", ("冻结卡片", "freeze the card")),
    ("在ATM上每天能取多少现金？", ("2 万元", "CNY 20,000 per card")),
    ("春节期间网点开门吗？", ("1 月 28 日", "28 January")),
    ("柜台跨行转账手续费怎么收？", ("0.1%",)),
    ("What time does the branch close on weekdays?", ("17:00",)),
    ("Which number should I call if my card is stolen?", ("400-820-5566",)),
    ("Is there a ramp for people in wheelchairs?", ("wheelchair ramp",)),
    ("Can I talk to the staff in Cantonese?", ("Cantonese",)),
    ("How much does it cost to get a new debit card?", ("Debit card replacement", "replacement fee is CNY 20")),
    ("How long do I wait for my replacement card?", ("7 working days", "7 个工作日")),
    ("What is the most cash I can take out of an ATM in a single withdrawal?", ("CNY 2,500", "2,500 元")),
    ("Are you open during the National Day holiday in October?", ("1–3 October", "4 to 7 October")),
    ("Do you charge for text message alerts?", ("SMS alerts",)),
    ("Is there free wifi I can use while waiting?", ("PRB-Guest",)),
]


def make_pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A small text PDF written by hand: one Type0 font whose CIDs are Unicode code points, with a ToUnicode map."""
    chars = sorted({ord(c) for page in pages for line in page for c in line})
    bfchar = "".join(f"<{c:04X}> <{c:04X}>\n" for c in chars)
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        f"{len(chars)} beginbfchar\n{bfchar}endbfchar\n"
        "endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: str) -> bytes:
        raw = data.encode("latin-1")
        return b"<< /Length %d >>\nstream\n" % len(raw) + raw + b"\nendstream"

    catalog, pages_id = add(b""), add(b"")
    descriptor = add(b"<< /Type /FontDescriptor /FontName /SimSun /Flags 32 /FontBBox [0 -200 1000 900] "
                     b"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >>")
    descendant = add(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun /CIDSystemInfo << /Registry (Adobe) "
                     b"/Ordering (Identity) /Supplement 0 >> /FontDescriptor %d 0 R /DW 1000 /CIDToGIDMap /Identity >>"
                     % descriptor)
    to_unicode = add(stream(cmap))
    font = add(b"<< /Type /Font /Subtype /Type0 /BaseFont /SimSun /Encoding /Identity-H /DescendantFonts [%d 0 R] "
               b"/ToUnicode %d 0 R >>" % (descendant, to_unicode))
    kids = []
    for page in pages:
        ops = ["BT", "/F1 10 Tf", "14 TL", "40 800 Td"]
        ops += ["<" + "".join(f"{ord(c):04X}" for c in line) + "> Tj T*" for line in page]
        ops.append("ET")
        content = add(stream("\n".join(ops)))
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 %d 0 R >> "
                        b">> /Contents %d 0 R >>" % (pages_id, font, content)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids), len(kids))
    info = add(b"<< /Title (%s) >>" % title.encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, info, xref)
    return bytes(out)


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Fees and charges 收费标准", level=1)
    document.add_paragraph("All fees in Chinese yuan (元). 以下收费均以人民币计。")
    table = document.add_table(rows=len(FEE_ROWS), cols=2)
    for row, (service, fee) in zip(table.rows, FEE_ROWS, strict=True):
        row.cells[0].text = service
        row.cells[1].text = fee
    document.add_heading("Seniors 老年客户", level=2)
    document.add_paragraph("Customers aged 65 or over pay no counter transfer fees. "
                           "65 岁及以上客户免收柜台转账手续费。")
    document.save(str(path))


@pytest.fixture(scope="module")
def sheet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sheet")
    (folder / "branch_zh.md").write_text(BRANCH_ZH_MD, encoding="utf-8")
    (folder / "branch_en.txt").write_text(BRANCH_EN_TXT, encoding="utf-8")
    make_docx(folder / "fees.docx")
    (folder / "card_services.pdf").write_bytes(make_pdf(PDF_PAGES, title="Card services"))
    (folder / "holidays.html").write_text(HOLIDAYS_HTML, encoding="utf-8")
    return folder


SHEET_FILES = ("branch_zh.md", "branch_en.txt", "fees.docx", "card_services.pdf", "holidays.html")


@pytest.fixture(scope="module")
def base(sheet_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    kb = KnowledgeBase(tmp_path_factory.mktemp("kb") / "knowledge.sqlite")
    for name in SHEET_FILES:
        kb.add(sheet_dir / name)
    return kb


def rank_of(hits: list[knowledge.Hit], expected: tuple[str, ...]) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if any(fact in hit.text for fact in expected):
            return rank
    return None


# --- readers --------------------------------------------------------------------------------------


def test_every_format_is_read_with_title_and_headings(sheet_dir: Path) -> None:
    md = read_document(sheet_dir / "branch_zh.md")
    assert (md.title, md.kind, md.source) == ("珠江银行海景支行 客户须知", "md", "branch_zh.md")
    assert "## 停车" in md.text and "免费停车 2 小时" in md.text
    assert "**" not in md.text and "https://" not in md.text

    txt = read_document(sheet_dir / "branch_en.txt")
    assert txt.kind == "txt" and txt.title == "Pearl River Bank - Harbourview Branch"
    assert txt.text.startswith("# Pearl River Bank - Harbourview Branch\n")

    doc = read_document(sheet_dir / "fees.docx")
    assert doc.title == "Fees and charges 收费标准" and doc.kind == "docx"
    assert "Debit card replacement 借记卡补卡 | 20 元 / CNY 20" in doc.text
    assert "## Seniors 老年客户" in doc.text

    pdf = read_document(sheet_dir / "card_services.pdf")
    assert pdf.title == "Card services" and "拨打 24 小时热线 400-820-5566" in pdf.text
    assert "CNY 50,000" in pdf.text

    html = read_document(sheet_dir / "holidays.html")
    assert html.title == "2025 Holiday Schedule 节假日营业安排"
    assert "## Spring Festival 春节" in html.text and "1–3 October" in html.text
    for junk in ("999-999", "font-family", "Careers", "Exchange rates"):
        assert junk not in html.text
    assert "© Pearl River Bank" in html.text


def test_markdown_and_html_details(tmp_path: Path) -> None:
    md = tmp_path / "guide.md"
    md.write_text(
        "---\ntitle: Clinic guide\n---\nSee the [map](http://x.y/map) and ![logo](a.png), `code`, *em*, snake_case.\n\n"
        "Fees\n----\n\n| Service | Fee |\n|---|---:|\n| Check-up | 200 元 |\n\n> **Note**: bring ID.\n\n"
        "```\n# a comment, not a heading\n```\n",
        encoding="utf-8",
    )
    doc = read_document(md)
    assert doc.title == "Clinic guide"
    assert doc.text.startswith(
        "See the map and logo, code, em, snake_case.\n\n## Fees\n\nService | Fee\nCheck-up | 200 元"
    )
    assert "Note: bring ID." in doc.text
    assert [c.heading for c in chunk_text(doc.text)] == ["", "Fees"]

    page = tmp_path / "gbk.htm"
    page.write_bytes('<meta charset="gb2312"><title>门诊</title><p>挂号费 10 元</p><div hidden>秘密</div>'
                     "<ul><li>内科</li><li>外科</li></ul>".encode("gb18030"))
    doc = read_document(page)
    assert doc.title == "门诊" and doc.text == "挂号费 10 元\n\n- 内科\n- 外科"


def test_text_encodings(tmp_path: Path) -> None:
    text = "营业时间：周一至周五 9:00–17:00。\n"
    for name, data in [
        ("gb.txt", text.encode("gb18030")),
        ("bom.txt", text.encode("utf-8-sig")),
        ("utf16.txt", text.encode("utf-16")),
    ]:
        (tmp_path / name).write_bytes(data)
        assert read_document(tmp_path / name).text == text.strip()


def test_plain_text_section_titles_become_headings(tmp_path: Path) -> None:
    path = tmp_path / "notice.txt"
    path.write_text("【营业时间】\n周一至周五 9:00 开门。\n\n二、联系方式\n电话 0755-2688-1234。\n", encoding="utf-8")
    chunks = chunk_text(read_document(path).text)
    assert [(c.heading, c.text) for c in chunks] == [
        ("营业时间", "周一至周五 9:00 开门。"), ("二、联系方式", "电话 0755-2688-1234。"),
    ]


def test_numbered_steps_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "steps.txt"
    path.write_text("挂失步骤\n一、拨打热线冻结卡片\n二、携带身份证到柜台\n三、缴纳补卡费 20 元\n", encoding="utf-8")
    (chunk,) = chunk_text(read_document(path).text)
    assert chunk.heading == "" and "三、缴纳补卡费 20 元" in chunk.text


# --- chunking -------------------------------------------------------------------------------------


def test_chunks_respect_sizes_boundaries_overlap_and_headings() -> None:
    zh = "".join(f"第{i}条：本行客户可在营业时间内到柜台办理第{i}项业务，需携带有效身份证件。" for i in range(40))
    en = " ".join(f"Rule {i}: customers may request service number {i} at any counter during opening hours."
                  for i in range(40))
    text = f"# Guide\n\n## 中文规则\n{zh}\n\n## English rules\n{en}\n\n## Short\nOne line only."
    chunks = chunk_text(text, max_chars=500, min_chars=300, overlap_chars=100)
    assert all(len(c.text) <= 500 for c in chunks)
    zh_chunks = [c for c in chunks if c.heading == "中文规则"]
    en_chunks = [c for c in chunks if c.heading == "English rules"]
    assert len(zh_chunks) >= 3 and len(en_chunks) >= 3
    assert all(len(c.text) >= 300 for c in zh_chunks[:-1] + en_chunks[:-1])
    for group in (zh_chunks, en_chunks):
        for before, after in itertools.pairwise(group):
            assert before.text[-1] in "。." and after.text[0] in "第R"  # cut at sentence ends
            first_sentence = after.text.split("。")[0] if "。" in after.text else after.text.split(". ")[0]
            assert first_sentence in before.text  # the last sentence is repeated
    assert chunks[-1].heading == "Short" and chunks[-1].text == "One line only."
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_overlong_sentence_is_cut_at_clauses() -> None:
    text = "，".join(f"条款{i}内容较长需要切分" for i in range(120)) + "。"
    chunks = chunk_text(text, max_chars=200, min_chars=100, overlap_chars=50)
    assert len(chunks) > 3 and all(len(c.text) <= 200 for c in chunks)
    assert all(c.text.endswith(("，", "。")) for c in chunks)


def test_tokens_mix_languages_and_numbers() -> None:
    tokens = tokenize("海景支行客服电话 0755-2688-1234; Cards replaced, Wi-Fi 20,000")
    for token in ("海景", "_景支", "客服", "075526881234", "2688", "card", "replac", "wifi", "20000"):
        assert token in tokens
    assert tokenize("2万元")[:2] == ["2", "20000"]


# --- retrieval ------------------------------------------------------------------------------------


def test_twenty_questions_find_the_fact(base: KnowledgeBase) -> None:
    ranks = []
    for question, expected in QUESTIONS:
        ranks.append(rank_of(base.search(question, k=3), expected))
    misses = [(q, r) for (q, _), r in zip(QUESTIONS, ranks, strict=True) if r != 1]
    top1 = sum(r == 1 for r in ranks)
    assert all(r is not None for r in ranks), misses
    assert top1 >= 18, misses


def test_hits_carry_citation(base: KnowledgeBase) -> None:
    hit = base.search("支行行长是谁", k=1)[0]
    assert (hit.title, hit.source, hit.heading) == ("珠江银行海景支行 客户须知", "branch_zh.md", "支行负责人")
    assert "林晓雯" in hit.text and hit.score > 0
    assert base.search("", k=3) == [] and base.search("？！", k=3) == []
    assert base.search("zebra giraffe", k=3) == []


def test_chinese_question_finds_english_chunk_by_number(base: KnowledgeBase) -> None:
    hits = base.search("400-820-5566 是什么电话", k=4)
    assert hits and all("400-820-5566" in hit.text for hit in hits[:2])
    assert any(hit.source == "branch_en.txt" for hit in hits)


def test_same_content_twice_is_a_no_op(base: KnowledgeBase, sheet_dir: Path) -> None:
    before = base.stats()
    info = base.add(sheet_dir / "branch_zh.md")
    assert info.id == base.list()[0].id and info.chunks == 7
    assert base.stats() == before


# --- FAQ ------------------------------------------------------------------------------------------

FAQ_MD = """\
# Branch FAQ

Q: 周日几点开门？
A: 周日 10:00 开门，15:00 关门，仅办理个人业务。

Q: 怎么挂失借记卡？
A: 请立即拨打 24 小时热线 400-820-5566 冻结卡片，再带身份证到柜台补卡。

Q: What time do you open on Sunday?
A: On Sundays we open at 10:00 and close at 15:00 (personal banking only).

Q: How can I replace a lost card?
Q: My card was stolen, what should I do?
A: Call the 24-hour hotline 400-820-5566 to freeze it,
then bring your ID to a counter for a replacement (CNY 20).
"""


@pytest.fixture()
def faq_base(tmp_path: Path) -> KnowledgeBase:
    kb = KnowledgeBase(tmp_path / "faq.sqlite")
    path = tmp_path / "faq.md"
    path.write_text(FAQ_MD, encoding="utf-8")
    entries = kb.import_faq(path)
    assert len(entries) == 4 and entries[3].questions == (
        "How can I replace a lost card?", "My card was stolen, what should I do?",
    )
    assert entries[3].answer.endswith("for a replacement (CNY 20).") and entries[0].source == "faq.md"
    return kb


@pytest.mark.parametrize(
    ("query", "answer_start"),
    [
        ("周日几点开门？", "周日 10:00"),
        ("周日几点开门", "周日 10:00"),
        ("请问你们星期天什么时候开门呢？", "周日 10:00"),
        ("礼拜天几点钟开门啊", "周日 10:00"),
        ("你们银行周日几点开门", "周日 10:00"),
        ("借记卡怎么挂失？", "请立即拨打"),
        ("借记卡丢了怎么挂失", "请立即拨打"),
        ("what time do you open on sunday", "On Sundays"),
        ("When do you open on Sundays?", "On Sundays"),
        ("I lost my card, how can I replace it?", "Call the 24-hour"),
        ("my card was stolen. what should i do", "Call the 24-hour"),
    ],
)
def test_faq_matches_exact_and_paraphrased(faq_base: KnowledgeBase, query: str, answer_start: str) -> None:
    match = faq_base.faq_answer(query)
    assert match is not None, query
    assert match.answer.startswith(answer_start)
    assert match.score >= knowledge.FAQ_MIN_SIMILARITY


@pytest.mark.parametrize(
    "query",
    [
        "周六几点开门",  # another day
        "星期六几点开门？",
        "周日几点关门",  # close, not open
        "周日下午几点开门",  # a time of day the stored question doesn't have
        "春节期间几点开门",
        "几点开门",  # which day?
        "怎么挂失信用卡",  # another card
        "怎么开通借记卡",
        "What time do you open on Saturday?",
        "What time do you close on Sunday?",
        "Why don't you open on Sunday?",
        "How can I replace a lost passport?",
        "How can I replace my card?",  # not the lost-card question: less specific
        "What is the ATM withdrawal limit?",
        "ATM 每天最多取多少钱",
        "你好",
        "???",
    ],
)
def test_faq_misses_return_none(faq_base: KnowledgeBase, query: str) -> None:
    assert faq_base.faq_answer(query) is None, query


def test_faq_add_update_variants_and_remove(faq_base: KnowledgeBase) -> None:
    entry = faq_base.add_faq("周六几点开门？", "周六 9:30 开门。")
    assert faq_base.faq_answer("星期六几点开门").answer == "周六 9:30 开门。"  # type: ignore[union-attr]
    assert faq_base.faq_answer("周日几点开门").answer.startswith("周日 10:00")  # type: ignore[union-attr]
    updated = faq_base.add_faq("周六几点开门", "周六 10:00 开门。")  # same question, new answer
    assert updated.id == entry.id and faq_base.faq_answer("周六几点开门").answer == "周六 10:00 开门。"  # type: ignore[union-attr]
    variant = faq_base.add_faq("星期六早上什么时候营业", "周六 10:00 开门。")  # same answer: another phrasing
    assert variant.id == entry.id and len(variant.questions) == 2
    faq_base.remove_faq(entry.id)
    assert faq_base.faq_answer("周六几点开门") is None
    with pytest.raises(InputError, match="no FAQ entry"):
        faq_base.remove_faq(entry.id)


def test_faq_csv_and_bad_faq_files(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    csv_path = tmp_path / "faq.csv"
    csv_path.write_text('question,answer\n"Where is the branch?","88 Haijing Road, Shenzhen."\n'
                        '网点在哪里？,深圳市南山区海景路 88 号。\n', encoding="utf-8")
    assert len(kb.import_faq(csv_path)) == 2
    assert kb.faq_answer("网点在什么地方").answer == "深圳市南山区海景路 88 号。"  # type: ignore[union-attr]
    before = kb.stats()
    for name, content, message in [
        ("a.md", "A: an answer without a question\n", "no question"),
        ("b.md", "Q: 周日几点开门？\n", "no answer"),
        ("c.md", "Q: 周日几点开门？\nA: 10:00。\nQ: 周六几点开门？\n", "no answer"),
        ("d.md", "just prose, no pairs\n", "no FAQ entries"),
        ("e.csv", "Where?\n", "question,answer"),
        ("f.json", "{}", "unsupported"),
    ]:
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            kb.import_faq(tmp_path / name)
    assert kb.stats() == before


def test_faq_yaml(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    path = tmp_path / "faq.yaml"
    path.write_text("- q: [有停车位吗？, 可以停车吗？]\n  a: 大厦地下停车场免费停 2 小时。\n", encoding="utf-8")
    (entry,) = kb.import_faq(path)
    assert entry.questions == ("有停车位吗？", "可以停车吗？")
    assert kb.faq_answer("可以停车吗").answer == "大厦地下停车场免费停 2 小时。"  # type: ignore[union-attr]


# --- bad input, transactions, persistence ---------------------------------------------------------


def test_bad_documents_leave_the_base_unchanged(base: KnowledgeBase, tmp_path: Path, sheet_dir: Path) -> None:
    before, listed = base.stats(), base.list()
    probe = base.search("保管箱押金", k=3)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    png_as_md = tmp_path / "image.md"
    png_as_md.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    corrupt = tmp_path / "broken.pdf"
    corrupt.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ngarbage \x00\xff" * 3)
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes((sheet_dir / "card_services.pdf").read_bytes()[:700])
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\n\t\n", encoding="utf-8")
    unknown = tmp_path / "notes.xlsx"
    unknown.write_bytes(b"PK\x03\x04")
    old_word = tmp_path / "old.doc"
    old_word.write_bytes(b"\xd0\xcf\x11\xe0")
    fake_docx = tmp_path / "fake.docx"
    fake_docx.write_bytes(b"not a zip file at all")
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(21 * 1024 * 1024)  # sparse: no 21 MB actually written
    cases = [
        (binary, "binary.txt is not a text document"),
        (png_as_md, "image.md is not a text document"),
        (corrupt, "broken.pdf"),
        (truncated, "truncated.pdf"),
        (empty, "empty.md is empty"),
        (blank, "blank.txt has no text"),
        (unknown, r"unsupported document type '\.xlsx'.*\.txt, .*\.pdf, \.docx, \.html"),
        (old_word, "save .doc files as .docx"),
        (fake_docx, "fake.docx is not a readable Word"),
        (huge, r"huge\.txt is 21 MB, over the 20 MB limit"),
        (tmp_path / "missing.txt", "not found"),
    ]
    for path, message in cases:
        with pytest.raises(InputError, match=message):
            base.add(path)
    assert base.stats() == before and base.list() == listed
    assert base.search("保管箱押金", k=3) == probe


def test_encrypted_pdf(tmp_path: Path, sheet_dir: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    reader = PdfReader(sheet_dir / "card_services.pdf")
    locked, open_copy = PdfWriter(clone_from=reader), PdfWriter(clone_from=reader)
    locked.encrypt("secret", algorithm="AES-128")
    open_copy.encrypt("", owner_password="owner", algorithm="AES-128")  # opens without a password
    for writer, name in ((locked, "locked.pdf"), (open_copy, "open.pdf")):
        buffer = io.BytesIO()
        writer.write(buffer)
        (tmp_path / name).write_bytes(buffer.getvalue())
    with pytest.raises(InputError, match=r"locked\.pdf is an encrypted PDF"):
        kb.add(tmp_path / "locked.pdf")
    assert kb.stats().documents == 0
    assert kb.add(tmp_path / "open.pdf").chunks >= 2


def test_plumbing_failed_write_rolls_back(base: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    before, listed = base.stats(), base.list()
    calls = 0
    original = KnowledgeBase._insert_postings

    def failing(self: KnowledgeBase, conn: sqlite3.Connection, chunk_id: int, counts: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise sqlite3.OperationalError("disk I/O error")
        original(self, conn, chunk_id, counts)  # type: ignore[arg-type]

    monkeypatch.setattr(KnowledgeBase, "_insert_postings", failing)
    text = "\n\n".join(f"## 第{i}节\n本节内容编号 {i}，用于测试事务回滚。" for i in range(6))
    with pytest.raises(InputError, match=r"cannot write knowledge base .*disk I/O error"):
        base.add_text("回滚测试", text)
    assert calls == 3
    assert base.stats() == before and base.list() == listed
    assert all(hit.title != "回滚测试" for hit in base.search("事务回滚", k=10))


def test_persistence_and_removal(sheet_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite"
    with KnowledgeBase(path) as kb:
        infos = [kb.add(sheet_dir / name) for name in SHEET_FILES]
        kb.add_faq("周日几点开门？", "周日 10:00 开门。")
        queries = [q for q, _ in QUESTIONS[::3]]
        results = {q: kb.search(q, k=4) for q in queries}
    with KnowledgeBase(path) as kb:
        assert [i.id for i in kb.list()] == [i.id for i in infos]
        assert {q: kb.search(q, k=4) for q in queries} == results
        assert kb.faq_answer("星期天几点开门") is not None
        pdf = next(i for i in infos if i.source == "card_services.pdf")
        assert any(h.doc_id == pdf.id for h in kb.search("ATM daily transfer limit", k=4))
        kb.remove(pdf.id)
        assert all(h.doc_id != pdf.id for h in kb.search("ATM daily transfer limit 转账限额", k=10))
        assert all("CNY 50,000" not in hit.text for hit in kb.search("CNY 50,000", k=10))
        assert pdf.id not in [i.id for i in kb.list()]
        with pytest.raises(InputError, match=f"no document with id {pdf.id}"):
            kb.remove(pdf.id)
        again = kb.add(sheet_dir / "card_services.pdf")
        assert again.id != pdf.id and kb.search("CNY 50,000", k=1)[0].doc_id == again.id
    with pytest.raises(InputError, match="closed"):
        kb.search("x")


def test_replace_by_source_and_add_text(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb.sqlite")
    path = tmp_path / "fees.md"
    path.write_text("# Fees\n\nCard replacement costs CNY 20.\n", encoding="utf-8")
    first = kb.add(path)
    path.write_text("# Fees\n\nCard replacement costs CNY 25.\n", encoding="utf-8")
    second = kb.add(path, replace=True)
    assert [i.id for i in kb.list()] == [second.id] and second.id != first.id
    assert "CNY 25" in kb.search("card replacement cost", k=1)[0].text
    note = kb.add_text("Note", "## Parking\nTwo hours free.", source="manual")
    assert note.kind == "md" and kb.search("free parking", k=1)[0].heading == "Parking"
    with pytest.raises(InputError):
        kb.add_text("", "text")
    with pytest.raises(InputError):
        kb.add_text("Empty", "  \n")


def test_index_is_rebuilt_when_the_tokenizer_changes(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite"
    with KnowledgeBase(path) as kb:
        kb.add_text("Hours", "## 营业时间\n周六 9:30–16:00。")
        expected = kb.search("星期六几点开门", k=1)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = 'old' WHERE key = 'tokenizer'")
        conn.execute("DELETE FROM postings")
    conn.close()
    with KnowledgeBase(path) as kb:
        assert expected and kb.search("星期六几点开门", k=1) == expected


def test_not_a_knowledge_base_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="not a usable knowledge base"):
        KnowledgeBase(path)


def test_small_size_limit_setting(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb.sqlite", KnowledgeSettings(max_document_mb=1 / 1024))
    path = tmp_path / "a.txt"
    path.write_text("营业时间很长。" * 200, encoding="utf-8")
    with pytest.raises(InputError, match=r"a\.txt is 4\.1 KB, over the 1 KB limit"):
        kb.add(path)


def test_threads_share_one_base(base: KnowledgeBase) -> None:
    errors: list[BaseException] = []
    expected = [h.text for h in base.search("ATM 每日取现限额", k=2)]

    def work() -> None:
        try:
            for _ in range(20):
                assert [h.text for h in base.search("ATM 每日取现限额", k=2)] == expected
        except BaseException as error:  # surfaced in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
