"""Chinese polyphones read by their context: the readings a native speaker uses."""

import pytest

from talker.text.g2p_zh import ZhG2P, pinyin_to_kokoro

G2P = ZhG2P()

# (sentence, character, which occurrence, expected pinyin)
CASES = [
    ("我去银行取钱", "行", 0, "hang2"),
    ("他在路上行走", "行", 0, "xing2"),
    ("你行不行啊", "行", 0, "xing2"),
    ("他是银行行长", "行", 1, "hang2"),
    ("这行字写错了", "行", 0, "hang2"),
    ("他在这个行业很久了", "行", 0, "hang2"),
    ("我住在重庆", "重", 0, "chong2"),
    ("这件事很重要", "重", 0, "zhong4"),
    ("我们重新开始吧", "重", 0, "chong2"),
    ("这个箱子很重", "重", 0, "zhong4"),
    ("孩子长大了", "长", 0, "zhang3"),
    ("这条路的长度是三米", "长", 0, "chang2"),
    ("这个队伍很长", "长", 0, "chang2"),
    ("他是我们的校长", "长", 0, "zhang3"),
    ("他长得很高", "长", 0, "zhang3"),
    ("我喜欢听音乐", "乐", 0, "yue4"),
    ("祝你生日快乐", "乐", 0, "le4"),
    ("他在乐队里弹吉他", "乐", 0, "yue4"),
    ("你还是先走吧", "还", 0, "hai2"),
    ("我明天还钱给你", "还", 0, "huan2"),
    ("你先还钱吧", "还", 0, "huan2"),
    ("请按时还款", "还", 0, "huan2"),
    ("我去图书馆还书", "还", 0, "huan2"),
    ("他还没来", "还", 0, "hai2"),
    ("我了解了", "了", 0, "liao3"),
    ("我吃完饭了", "了", 0, "le5"),
    ("他跑得很快", "得", 0, "de5"),
    ("我得走了", "得", 0, "dei3"),
    ("他得到了奖励", "得", 0, "de2"),
    ("他在睡觉", "觉", 0, "jiao4"),
    ("我觉得不错", "觉", 0, "jue2"),
    ("北京是中国的首都", "都", 0, "du1"),
    ("我们都很好", "都", 0, "dou1"),
    ("这件衣服很便宜", "便", 0, "pian2"),
    ("交通很方便", "便", 0, "bian4"),
    ("他成为了医生", "为", 0, "wei2"),
    ("为了你我愿意", "为", 0, "wei4"),
    ("他着急地走了", "着", 0, "zhao2"),
    ("他笑着说", "着", 0, "zhe5"),
    ("他的爱好是读书", "好", 0, "hao4"),
    ("今天天气很好", "好", 0, "hao3"),
    ("我们去西藏旅游", "藏", 0, "zang4"),
    ("他把钱藏起来了", "藏", 0, "cang2"),
    ("我要出差三天", "差", 0, "chai1"),
    ("两者差别很大", "差", 0, "cha1"),
    ("这件事需要调查", "调", 0, "diao4"),
    ("请把空调调低一点", "调", 1, "tiao2"),
    ("春天适合种树", "种", 0, "zhong4"),
    ("这种方法很好", "种", 0, "zhong3"),
    ("她剪了短发", "发", 0, "fa4"),
    ("我给你发消息", "发", 0, "fa1"),
    ("他用相机拍照", "相", 0, "xiang4"),
    ("我们互相帮助", "相", 0, "xiang1"),
]


def _reading(sentence: str, char: str, occurrence: int) -> str:
    readings = [(c, p) for w in G2P.words(sentence) if w.is_han for c, p in zip(w.text, w.pinyin, strict=True)]
    return [p for c, p in readings if c == char][occurrence]


@pytest.mark.parametrize(("sentence", "char", "occurrence", "expected"), CASES, ids=[c[0] for c in CASES])
def test_polyphone(sentence: str, char: str, occurrence: int, expected: str) -> None:
    assert _reading(sentence, char, occurrence) == expected


def test_every_char_gets_a_reading() -> None:
    words = G2P.words("我们在2024年去了北京，看了Google的办公室。")
    for word in words:
        if word.is_han:
            assert len(word.pinyin) == len(word.text)


@pytest.mark.parametrize(("pinyin", "ipa"), [("ni3", "ni↓"), ("shi4", "ʂɨ↘"), ("zi5", "ʦɨ"), ("er2", "ɚ↗"),
                                             ("lve4", "lɥe↘"), ("nar3", "na↓")])
def test_pinyin_to_kokoro_ipa(pinyin: str, ipa: str) -> None:
    assert pinyin_to_kokoro(pinyin) == ipa
