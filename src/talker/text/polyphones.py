"""Chinese polyphones (多音字) resolved from the words around them.

pypinyin's phrase dictionary reads most multi-character words right (银行, 重庆, 音乐). What it
cannot see is a polyphone that word segmentation left on its own or glued to a neighbour it does not
know ("先还钱", "很长"): the rules below read those from the characters before and after.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """Read the character as `reading` when the text before ends with, or after starts with, a cue."""

    reading: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    both: bool = False  # require a cue on each side instead of either

    def matches(self, before: str, after: str) -> bool:
        left = any(before.endswith(cue) for cue in self.before)
        right = any(after.startswith(cue) for cue in self.after)
        return (left and right) if self.both else (left or right)


def _cues(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# First matching rule wins; no match keeps pypinyin's reading.
RULES: dict[str, tuple[Rule, ...]] = {
    "还": (
        Rule("huan2", after=_cues("钱 书 款 债 贷 给 清 账 帐 原 礼 我 你 手 击"),
             before=_cues("归 偿 退 送 交 返 奉 借")),
    ),
    "长": (
        Rule("zhang3", after=_cues("大 高 辈 官 老 者 相 出 胖 成 得 满 个子 肉 膘")),
        Rule("chang2",
             before=_cues("很 太 真 好 多 最 较 更 挺 特 不 变 延 拉 漫 冗 细 修 狭 悠 擅 超 加"),
             after=_cues("度 短 久 期 城 江 途 远 方 条 篇 处 假 寿 跑 廊 椅 裤 发 笛 衫 达 河 征 项 安")),
        Rule("zhang3", before=_cues("成 生 增 家 校 班 队 部 省 市 县 局 院 董事 组 村 团 船 站 科 处 厂 社 州 镇 会 司"
                                    " 行 师 兄 首 酋")),
    ),
    "行": (
        Rule("hang2", after=_cues("业 列 情 家 距 话 规"),
             before=_cues("银 两 三 几 同 内 外 排 各 本 总 分 支 投 车 商 单 双 多 这 那 每 哪 改")),
    ),
    "重": (
        Rule("chong2",
             after=_cues("新 复 叠 庆 逢 阳 播 来 做 写 组 建 装 启 申 试 温 演 返 置 修 印 名 婚 合 围 考 读 洗"),
             before=_cues("双 多 万 层 九")),
    ),
    "乐": (
        Rule("yue4", after=_cues("器 队 曲 团 章 谱 理 坛 手 迷 评 府 感"),
             before=_cues("音 声 器 民 礼 奏 配 古 爵士 摇滚 流行 交响 弦 管")),
    ),
    "了": (
        Rule("liao3", after=_cues("解 结 如指掌 不起 却 无"), before=_cues("不 明 末 未 受不 得")),
    ),
    "得": (
        Rule("dei3", before=_cues("我 你 他 她 们 还 就 也 都 总 必 非"),
             after=_cues("要 去 走 赶 先 好好 马上 赶紧 早 多 等 花"), both=True),
        Rule("de2", after=_cues("到 奖 分 知 益 失 意 逞 罪 胜 病 以 出 票 宠")),
        Rule("de5", before=("",)),  # otherwise the structural particle (跑得快)
    ),
    "地": (
        Rule("di4", after=_cues("方 区 球 图 址 点 铁 下 面 板 震 位 产 理 带 毯 基 盘 形 势 质"),
             before=_cues("土 大 天 场 田 各 外 本 基 陆 草 耕 当 目的 山 高 平 盆 湿 圣 内 腹 墓 工")),
    ),
    "着": (
        Rule("zhao2", after=_cues("急 火 凉 迷 了"), before=_cues("睡 找 猜 点 用不 够 犯不")),
        Rule("zhuo2", after=_cues("手 重 想 眼 陆 装 落 力 实 色")),
    ),
    "都": (Rule("du1", before=_cues("首 成 古 京 国 旧 故 建 迁 定"), after=_cues("市 会 城 江")),),
    "为": (
        Rule("wei2", before=_cues("成 作 认 以 行 称 视 难 变 化 转 选 评 分 改 定 列 更 名 敢 大有"),
             after=_cues("止 难 人师")),
    ),
    "便": (Rule("pian2", after=_cues("宜")),),
    "觉": (Rule("jiao4", before=_cues("睡 午 懒")),),
    "好": (Rule("hao4", after=_cues("奇 学 客 胜 强 色 吃懒做 高骛远"), before=_cues("爱 喜 嗜 偏 癖")),),
    "藏": (Rule("zang4", before=_cues("西 宝 青"), after=_cues("族 语 文 区 獒 历 药")),),
    "朝": (
        Rule("zhao1", after=_cues("阳 气 霞 夕 三暮四")),
        Rule("chao2", after=_cues("代 鲜 廷 向 拜 圣 野 南 北 东 西"),
             before=_cues("王 唐 宋 明 清 元 汉 本 前 历 皇 上")),
    ),
    "差": (
        Rule("cha1", after=_cues("别 距 异 价 额 错 值")),
        Rule("chai1", after=_cues("事 遣 旅 使"), before=_cues("出 公 邮 钦 交 当")),
    ),
    "调": (
        Rule("diao4", after=_cues("查 研 动 任 度 职 子 门 包 令 兵 配 头"),
             before=_cues("音 腔 声 曲 语 格 论 基 强")),
        Rule("tiao2", before=("",)),  # on its own it is mostly the verb: adjust (调低, 调一下)
    ),
    "种": (Rule("zhong4", after=_cues("植 地 田 树 菜 花 豆 瓜"), before=_cues("播 耕 栽 接 点 抢")),),
    "发": (Rule("fa4", after=_cues("型 夹 廊 卡 蜡"), before=_cues("头 理 白 短 毛 美 烫 染 假 削 黑 金")),),
    "相": (Rule("xiang4", after=_cues("机 片 声 貌 册"), before=_cues("照 首 真 宰 面 丞 外 亮 色 长")),),
    "弹": (Rule("dan4", after=_cues("药 弓 壳 头 道 丸"), before=_cues("子 炮 导 炸 枪 飞 核 手榴 实")),),
    "传": (Rule("zhuan4", after=_cues("记 略"), before=_cues("自 列 评 外 经 水浒")),),
    "空": (Rule("kong4", after=_cues("闲 白 隙 缺 地 位"), before=_cues("有 没 抽 填 留 补 亏")),),
    "少": (Rule("shao4", after=_cues("年 女 爷 妇 儿 帅 将"), before=_cues("老 阔 恶")),),
    "降": (Rule("xiang2", after=_cues("服 伏"), before=_cues("投 归 受 劝 招")),),
    "量": (Rule("liang2", before=_cues("测 丈 思 打 商 掂 衡 称")),),
}

# Whole words pypinyin's dictionary reads wrongly in the senses users meet most.
WORD_READINGS: dict[str, tuple[str, ...]] = {
    "还钱": ("huan2", "qian2"),
    "还书": ("huan2", "shu1"),
    "还款": ("huan2", "kuan3"),
    "很长": ("hen3", "chang2"),
    "太长": ("tai4", "chang2"),
    "银行行长": ("yin2", "hang2", "hang2", "zhang3"),
    "行长": ("hang2", "zhang3"),
}


def resolve(char: str, before: str, after: str) -> str | None:
    """The reading of polyphone `char` between `before` and `after`, or None to keep the default."""
    for rule in RULES.get(char, ()):
        if rule.matches(before, after):
            return rule.reading
    return None
