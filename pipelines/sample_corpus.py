"""A generated English/Chinese sample corpus with planted duplicates, and its ground truth.

Documents are about 2 KB of grammatical-looking prose built from embedded word lists:
sentences from templates, paragraphs separated by blank lines, sentences ending in "."
or "。", so they pass Gopher/C4-style quality rules and langdetect calls them en or zh.
On top of the originals the generator plants

- exact duplicates: copies of an original, re-wrapped (whitespace changes only);
- near duplicates: copies with words replaced at evenly spread places, aiming at a
  target shingle Jaccard drawn from `near_jaccard_range`; the truth records the Jaccard
  actually measured under the dedup stage's shingling;
- noisy documents that a quality filter should drop (too short, repeated lines,
  symbol spam, boilerplate, gibberish).

Everything is a function of the seed. 50,000 documents take a few seconds.
"""

from __future__ import annotations

import gc
import gzip
import json
import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from fullchain.pipelines.dedup.config import ShingleConfig
from fullchain.pipelines.dedup.jaccard import jaccard
from fullchain.pipelines.dedup.shingles import shingle_sets
from fullchain.pipelines.dedup.tokens import tokenize

# --- English ------------------------------------------------------------------------

_EN_NOUNS = """
time year people way day man woman child world life hand part place case week company system program
question work government number night point home water room mother area money story fact month lot
right study book eye job word business issue side kind head house service friend father power hour
game line end member law car city community name president team minute idea kid body information
back parent face others level office door health person art war history party result change morning
reason research girl guy moment air teacher force education foot boy age policy process music market
sense nation plan college interest death experience effect class control care field development role
effort rate heart drug show leader light voice wife police mind price report decision son view
relationship town road arm difference value building action model season society tax director
position player record paper space ground form event official matter center couple site project
activity star table need court oil situation cost industry figure street image phone data picture
practice piece land product doctor wall patient worker news test movie north love support technology
step baby computer type attention film tree source organization hair window evidence population
site garden river village library museum station bridge island forest valley journey language
""".split()

_EN_VERBS = [tuple(forms.split()) for forms in """
make makes made, take takes took, give gives gave, find finds found, tell tells told,
show shows showed, change changes changed, follow follows followed, build builds built,
create creates created, offer offers offered, describe describes described,
improve improves improved, support supports supported, explain explains explained,
develop develops developed, protect protects protected, consider considers considered,
reach reaches reached, provide provides provided, include includes included,
continue continues continued, study studies studied, visit visits visited, open opens opened,
design designs designed, share shares shared, measure measures measured,
discover discovers discovered, shape shapes shaped, reduce reduces reduced,
increase increases increased, connect connects connected, prepare prepares prepared,
produce produces produced, remember remembers remembered, explore explores explored,
manage manages managed, compare compares compared, collect collects collected,
organize organizes organized, review reviews reviewed, watch watches watched,
carry carries carried, choose chooses chose, understand understands understood, keep keeps kept,
bring brings brought, teach teaches taught, learn learns learned, plan plans planned,
test tests tested, record records recorded, deliver delivers delivered
""".split(",")]  # (base, third person, past)

_EN_ADJECTIVES = """
new good first last long great little own other old right big high different small large next early
young important few public bad same able local sure free better true whole clear recent certain
personal open difficult available likely short single medical current wrong private past foreign fine
common poor natural significant similar hot dead central happy serious ready simple left physical
general environmental financial blue democratic dark various entire close legal religious cold final
main green nice huge popular traditional cultural quiet careful modern ancient regional practical
useful quick bright strong gentle fresh rural urban busy safe rich calm wide deep
""".split()

_EN_ADVERBS = """
also often still never always really already usually sometimes quickly slowly clearly simply nearly
recently finally probably certainly easily carefully quietly rarely generally actually
""".split()

_EN_PREPOSITIONS = "in on at for from with about into through across after before during near under over".split()
_EN_DETERMINERS = "the the the the this that every our their its each".split()
_EN_SUBJECTS = ["we", "they", "people", "many people", "most of them", "students", "visitors", "local families",
                "the authors", "our team", "researchers", "some of us"]
_EN_CONNECTIVES = ["However,", "In addition,", "For example,", "As a result,", "At the same time,", "In fact,",
                   "Over time,", "Even so,", "In the end,", "For this reason,"]

# Slots: D determiner, A adjective, N noun, V verb base, T verb third person, P verb past, R adverb,
# I preposition, S subject, C connective; anything else is a literal word.
_EN_TEMPLATES = [
    "D A N T D N I D N",
    "C D N of D N T R",
    "S have to V D A N with D N",
    "S P that D N was A",
    "D N P D A N I D N",
    "S R V D N and D N",
    "D A N can V D N I D N",
    "S will V D N I D A N",
    "D N of D N R T D N",
    "C S P D A N I D N",
    "S often say that D N T D A N",
    "D N and D N R T D A N",
    "S want to V D N before D N",
    "S P D N because D N was A",
    "D A N R P D N",
    "S could V D N and V D A N",
    "S P D N with D A N",
    "D N T D N that S P",
    "S should V D N of D N",
    "D N was A and D N was A",
    "it will be A to V D N",
    "C D A N T D N",
    "S R P D N I D N",
    "D N I D N R T D A N",
]

# --- Chinese --------------------------------------------------------------------------

_ZH_NOUNS = """
经济 社会 文化 历史 技术 城市 农村 学生 老师 问题 方法 市场 企业 政府 环境 教育 科学 研究 生活 时间
工作 国家 世界 人民 家庭 朋友 孩子 父母 医院 学校 公司 产品 服务 信息 资源 能源 交通 网络 数据 系统
计划 项目 活动 会议 政策 制度 法律 管理 质量 安全 健康 艺术 音乐 电影 书籍 语言 传统 节日 旅游 风景
河流 山区 森林 土地 农业 工业 城镇 社区 居民 游客 作者 专家 记者 读者 观众 团队 组织 机构 部门 领域
行业 结构 关系 影响 作用 基础 条件 机会 挑战 目标 成果 经验 能力 水平 速度 规模 价格 成本 收入 需求
思想 精神 知识 内容 标准 方向 过程 情况 任务 责任 意见 办法 作品 故事 历史 地区 街道 公园 图书馆 博物馆
医生 工人 农民 学者 青年 儿童 老人 干部 群众 顾客 邻居 同学 家长 员工 厨师 司机 演员 画家 作家 科学家
""".split()

_ZH_VERBS = """
发展 提高 推动 支持 促进 建设 改善 加强 保护 研究 学习 了解 参加 组织 完成 实现 提供 解决 利用 管理
讨论 介绍 分析 调查 设计 创造 改变 增加 减少 保持 选择 准备 开展 探索 分享 记录 比较 决定 认为 希望
帮助 关注 重视 检查 安排 培养 掌握 总结 扩大 推广 参观 访问 欣赏 整理 修改 评价 承担 坚持 鼓励 接受
""".split()

_ZH_ADJECTIVES = """
重要 新 主要 基本 不同 传统 现代 普通 特别 具体 复杂 简单 明显 积极 稳定 丰富 健康 安全 美丽 安静
年轻 古老 有效 合理 困难 成功 清楚 必要 实际 广泛 热闹 干净 方便 严格 优秀 独特 细致 充分 深刻 温暖
""".split()

_ZH_ADVERBS = """
已经 不断 非常 正在 一直 逐渐 经常 仍然 同样 更加 进一步 认真 积极 共同 终于 马上 往往 确实 尤其 始终
""".split()
_ZH_SUBJECTS = """
我们 他们 大家 很多人 当地居民 研究人员 这些学生 有关部门 不少专家
年轻人 我 你 她 老师们 孩子们 我的朋友 许多家庭 工作人员
""".split()
_ZH_CONNECTIVES = "因此 同时 但是 而且 此外 另外 总之 事实上 与此同时 一方面 其实 不过 所以 后来 首先 最后".split()
_ZH_TEMPLATES = [
    "S R V 了 A 的 N",
    "N 和 N R V 了 N",
    "C ， S R V N",
    "S 在 N 中 V 了 N",
    "N 的 N R V",
    "S 认为 N 很 A",
    "通过 V N ， S R V 了 N",
    "随着 N 的 V ， N 也 R V",
    "为了 V N ， S R V N",
    "S 把 N V 得 很 A",
    "A 的 N 让 S R V N",
    "S R 在 N V N",
    "N 对 N 有 A 的 影响",
    "S 和 S R V 了 A 的 N",
    "这 种 N R V 了 N",
    "S 希望 V A 的 N",
    "N 里 的 N R V",
    "C ， N 的 N R A",
    "S 正在 V N 和 N",
    "关于 N ， S R V 过 N",
    "C ， S 觉得 N 比 N 更 A",
    "S 每天 都 V N",
]

_EN_LISTS = {"D": _EN_DETERMINERS, "A": _EN_ADJECTIVES, "N": _EN_NOUNS, "V": [v[0] for v in _EN_VERBS],
             "T": [v[1] for v in _EN_VERBS], "P": [v[2] for v in _EN_VERBS], "R": _EN_ADVERBS,
             "I": _EN_PREPOSITIONS, "S": _EN_SUBJECTS, "C": _EN_CONNECTIVES}
_ZH_LISTS = {"A": _ZH_ADJECTIVES, "N": _ZH_NOUNS, "V": _ZH_VERBS, "R": _ZH_ADVERBS, "S": _ZH_SUBJECTS,
             "C": _ZH_CONNECTIVES}
# Words a near duplicate may replace, each with the list its replacement is drawn from.
# Only single content words: replacing them keeps the sentence grammatical.
_REPLACEABLE = {word: lists[slot] for lists, slots in ((_EN_LISTS, "ANVTPR"), (_ZH_LISTS, "ANVR"))
                for slot in slots for word in lists[slot]}

_EN_SITES = ["dailyreport", "cityjournal", "openlibrary", "learnhub", "greenfield", "travelnotes", "sciencedesk",
             "familytimes", "marketwatcher", "healthline-news"]
_ZH_SITES = ["xinwen", "shenghuo", "keji", "jiaoyu", "lvyou", "wenhua"]


@dataclass(frozen=True)
class PlantedDuplicate:
    """One planted copy and the original it was made from."""

    original_id: str
    duplicate_id: str
    kind: str  # "exact" or "near"
    target_jaccard: float  # what the generator aimed at (1.0 for exact copies)
    jaccard: float  # shingle Jaccard measured with the dedup stage's shingling


@dataclass
class CorpusTruth:
    """What was planted in a generated corpus."""

    languages: dict[str, str] = field(default_factory=dict)  # id -> "en", "zh" or "" (gibberish), every document
    duplicates: list[PlantedDuplicate] = field(default_factory=list)
    noisy: dict[str, str] = field(default_factory=dict)  # id -> kind of noise, for the noisy documents

    def summary(self) -> str:
        """One line: how many documents of each language and of each planted kind."""
        langs = list(self.languages.values())
        exact = sum(d.kind == "exact" for d in self.duplicates)
        return (f"{len(langs)} documents ({langs.count('en')} en, {langs.count('zh')} zh): "
                f"{exact} exact duplicates, {len(self.duplicates) - exact} near duplicates, "
                f"{len(self.noisy)} noisy")


# A sentence: its text and its units (words, or punctuation marks in Chinese); the text of
# an English sentence is its units joined by spaces, of a Chinese one joined without.
_Sentence = tuple[str, list[str]]


@dataclass
class _Draft:
    """A document before ids are assigned: its paragraphs as lists of sentences."""

    lang: str
    paragraphs: list[list[_Sentence]]
    role: str = "original"  # original, exact, near or a noise kind
    source: int = -1  # index of the original a copy was made from
    target_jaccard: float = 1.0

    def text(self) -> str:
        joiner = "" if self.lang == "zh" else " "
        return "\n\n".join(joiner.join(text for text, _ in paragraph) for paragraph in self.paragraphs) + "\n"


def generate_corpus(n_docs: int, seed: int = 0, zh_fraction: float = 0.2, exact_dup_fraction: float = 0.05,
                    near_dup_fraction: float = 0.1, noise_fraction: float = 0.05,
                    near_jaccard_range: tuple[float, float] = (0.3, 0.98), doc_bytes: int = 2048,
                    shingles: ShingleConfig | None = None) -> tuple[list[dict[str, Any]], CorpusTruth]:
    """`n_docs` records {"id", "text", "url", "date"} in id order, and what was planted in them.

    Fractions are of `n_docs`. Every copy, exact or near, is made of an original of its own,
    so planted pairs never chain. Near duplicates aim at a Jaccard drawn uniformly from
    `near_jaccard_range`; the Jaccard measured with `shingles` (the dedup default) is in the truth.
    """
    # The corpus is millions of small lists without reference cycles: the cyclic garbage
    # collector would rescan them again and again, a third of the run time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(n_docs, seed, zh_fraction, exact_dup_fraction, near_dup_fraction, noise_fraction,
                         near_jaccard_range, doc_bytes, shingles or ShingleConfig())
    finally:
        if collecting:
            gc.enable()


def _generate(n_docs: int, seed: int, zh_fraction: float, exact_dup_fraction: float, near_dup_fraction: float,
              noise_fraction: float, near_jaccard_range: tuple[float, float], doc_bytes: int,
              shingles: ShingleConfig) -> tuple[list[dict[str, Any]], CorpusTruth]:
    fractions = {"zh_fraction": zh_fraction, "exact_dup_fraction": exact_dup_fraction,
                 "near_dup_fraction": near_dup_fraction, "noise_fraction": noise_fraction}
    for name, value in fractions.items():
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not 0 < near_jaccard_range[0] <= near_jaccard_range[1] < 1:
        raise ValueError(f"near_jaccard_range must satisfy 0 < low <= high < 1, got {near_jaccard_range}")
    rng = random.Random(seed)
    n_exact, n_near, n_noise = (int(n_docs * f) for f in (exact_dup_fraction, near_dup_fraction, noise_fraction))
    n_original = n_docs - n_exact - n_near - n_noise
    if n_original < n_exact + n_near:
        raise ValueError("more duplicates than originals: every copy needs an original of its own")
    langs = ["zh" if rng.random() < zh_fraction else "en" for _ in range(n_original)]
    # Drawing sentences from a pool is several times faster than filling templates per document;
    # with 4 pool sentences per document, unrelated documents still share almost no shingles.
    pools = {lang: _SentencePool(rng, lang, 4 * max(250, langs.count(lang))) for lang in ("en", "zh")}
    draws = np.random.default_rng(rng.getrandbits(64))
    drafts = [_original(rng, draws, pools[lang], doc_bytes) for lang in langs]
    sources = rng.sample(range(n_original), n_near + n_exact)
    for i in sources[:n_near]:
        drafts.append(_near_copy(rng, drafts[i], i, rng.uniform(*near_jaccard_range), shingles))
    drafts += [_Draft(drafts[i].lang, drafts[i].paragraphs, "exact", i) for i in sources[n_near:]]
    drafts += [_noise(rng, _NOISE_KINDS[k % len(_NOISE_KINDS)]) for k in range(n_noise)]

    order = list(range(len(drafts)))
    rng.shuffle(order)  # copies get ids before and after their originals
    width = len(str(max(len(drafts) - 1, 0)))
    ids = [""] * len(drafts)
    for position, index in enumerate(order):
        ids[index] = f"doc-{position:0{width}d}"
    texts = [draft.text() for draft in drafts]
    for i, draft in enumerate(drafts):
        if draft.role == "exact":
            texts[i] = _rewrap(rng, texts[i])
    truth = CorpusTruth(languages={ids[i]: d.lang for i, d in enumerate(drafts)},
                        noisy={ids[i]: d.role for i, d in enumerate(drafts) if d.role in _NOISE_KINDS})
    near = [i for i, d in enumerate(drafts) if d.role == "near"]
    sets = shingle_sets([t for i in near for t in (texts[drafts[i].source], texts[i])], shingles)
    measured = {i: jaccard(sets[2 * k], sets[2 * k + 1]) for k, i in enumerate(near)}
    for i, d in enumerate(drafts):
        if d.role in ("exact", "near"):
            # Exact copies have the same tokens, hence the same shingles, by construction.
            truth.duplicates.append(PlantedDuplicate(ids[d.source], ids[i], d.role, round(d.target_jaccard, 4),
                                                     round(measured.get(i, 1.0), 4)))
    records = [_record(rng, ids[index], texts[index], drafts[index].lang) for index in order]
    return records, truth


def write_jsonl(records: list[dict[str, Any]], path: str) -> None:
    """Write records as JSON lines, gzip-compressed when `path` ends with .gz."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False))
            out.write("\n")


def write_sample_corpus(path: str, n_docs: int = 5000, seed: int = 0) -> str:
    """Generate the demo corpus (default fractions) into `path`; returns a one-line summary."""
    records, truth = generate_corpus(n_docs, seed=seed)
    write_jsonl(records, path)
    return f"wrote {path}: {truth.summary()}"


# --- originals --------------------------------------------------------------------------

def _compile(templates: list[str], lists: dict[str, list[str]]) -> list[list[list[str]]]:
    """Templates as lists of word lists (a literal word is a list of itself), for fast filling."""
    return [[lists.get(slot, [slot]) for slot in template.split()] for template in templates]


_COMPILED = {"en": _compile(_EN_TEMPLATES, _EN_LISTS), "zh": _compile(_ZH_TEMPLATES, _ZH_LISTS)}


def _sentence_units(rng: random.Random, lang: str) -> list[str]:
    """One sentence as units: English words (first capitalised, last with "."), or Chinese words and "。"."""
    templates = _COMPILED[lang]
    draw = rng.random
    units = [words[int(draw() * len(words))] for words in templates[int(draw() * len(templates))]]
    if lang == "zh":
        units.append("。")
        return units
    # A subject or connective can be several words; only the sentence's first letter is capitalised.
    units[0] = units[0][0].upper() + units[0][1:]
    units[-1] += "."
    return units


def _sentence(units: list[str], lang: str) -> _Sentence:
    return ("" if lang == "zh" else " ").join(units), units


class _SentencePool:
    """Sentences of one language with their sizes in UTF-8 bytes (a separating space included)."""

    def __init__(self, rng: random.Random, lang: str, size: int):
        self.lang = lang
        self.sentences = [_sentence(_sentence_units(rng, lang), lang) for _ in range(size)]
        self.sizes = [len(text.encode("utf-8")) + 1 for text, _ in self.sentences]
        self.mean_size = sum(self.sizes) / len(self.sizes)


def _original(rng: random.Random, draws: np.random.Generator, pool: _SentencePool, doc_bytes: int) -> _Draft:
    """Paragraphs of 3-6 sentences until the text reaches about `doc_bytes` UTF-8 bytes."""
    target = doc_bytes * rng.uniform(0.8, 1.2)
    # Repeats dropped: a sentence twice in one document would fail Gopher's repetition rules.
    drawn = draws.integers(len(pool.sentences), size=int(1.5 * target / pool.mean_size) + 12)
    picks = list(dict.fromkeys(drawn.tolist()))
    paragraphs = []
    size = start = 0
    while size < target and start < len(picks):
        paragraph = picks[start:start + 3 + int(rng.random() * 4)]
        start += len(paragraph)
        size += sum(map(pool.sizes.__getitem__, paragraph))
        paragraphs.append([pool.sentences[k] for k in paragraph])
    return _Draft(pool.lang, paragraphs)


def _record(rng: random.Random, doc_id: str, text: str, lang: str) -> dict[str, Any]:
    site = rng.choice(_ZH_SITES if lang == "zh" else _EN_SITES)
    month, day = rng.randrange(1, 13), rng.randrange(1, 29)
    return {"id": doc_id, "text": text, "url": f"https://www.{site}.example/{2020 + rng.randrange(5)}/"
            f"{month:02d}/{rng.getrandbits(32):08x}.html", "date": f"2024-{month:02d}-{day:02d}"}


# --- copies -----------------------------------------------------------------------------

def _rewrap(rng: random.Random, text: str) -> str:
    """The same words with different whitespace: an exact duplicate after normalisation."""
    kind = rng.randrange(3)
    if kind == 0:
        return text
    if kind == 1:
        return text.replace("\n\n", "\n\n\n").rstrip("\n") + "\n\n"
    return "  " + text.replace(". ", ".  ")


@lru_cache(maxsize=None)
def _token_count(unit: str) -> int:
    return len(tokenize(unit))


def _near_copy(rng: random.Random, original: _Draft, source: int, target: float, cfg: ShingleConfig) -> _Draft:
    """A copy with replaced words spread so that its shingle Jaccard with the original is about `target`.

    A replaced unit of u tokens at least n tokens away from other replacements changes
    u + n - 1 shingles; with S shingles, d changed ones give Jaccard (S - d) / (S + d).
    """
    n = cfg.cjk_char_ngram_size if original.lang == "zh" else cfg.ngram_size
    units = [unit for paragraph in original.paragraphs for _, sentence in paragraph for unit in sentence]
    token_counts = np.array([_token_count(unit) for unit in units])
    starts = np.cumsum(token_counts) - token_counts
    replaceable = np.array([i for i, unit in enumerate(units) if unit in _REPLACEABLE])
    n_tokens = int(token_counts.sum())
    mean_unit = float(token_counts[replaceable].mean())
    changed_shingles = max(n_tokens - n + 1, 1) * (1 - target) / (1 + target)
    # Replacements n + 2 units apart share no shingle; that caps their number, and the lowest
    # reachable Jaccard at about 0.25.
    most = n_tokens // (n + 2 * max(1, int(mean_unit)))
    count = int(min(max(1, round(changed_shingles / (mean_unit + n - 1))), most))
    stride = n_tokens / max(count, 1)
    spots = rng.uniform(0, stride) + stride * np.arange(count)
    chosen = np.unique(replaceable[np.minimum(np.searchsorted(starts[replaceable], spots), len(replaceable) - 1)])
    new_units = list(units)
    for i in chosen:
        words = _REPLACEABLE[units[i]]
        while new_units[i] == units[i]:
            new_units[i] = words[int(rng.random() * len(words))]
    paragraphs, offset = [], 0
    for paragraph in original.paragraphs:
        sentences = []
        for sentence in paragraph:
            changed_units = new_units[offset:offset + len(sentence[1])]
            offset += len(sentence[1])
            sentences.append(sentence if changed_units == sentence[1] else _sentence(changed_units, original.lang))
        paragraphs.append(sentences)
    return _Draft(original.lang, paragraphs, "near", source, target)


# --- noise ------------------------------------------------------------------------------

_NOISE_KINDS = ("too_short", "repeated_lines", "symbols", "boilerplate", "gibberish")


def _noise(rng: random.Random, kind: str) -> _Draft:
    """A document a quality filter should drop, as one paragraph of one sentence per line."""
    if kind == "too_short":
        lines = [" ".join(_sentence_units(rng, "en"))]
    elif kind == "repeated_lines":
        line = " ".join(_sentence_units(rng, "en"))
        lines = [line] * rng.randint(20, 40)
    elif kind == "symbols":
        lines = [" ".join(rng.choice(["#", "###", "$$$", "***", "|", "{}", "--", "=>"]) for _ in range(8))
                 + " " + " ".join(_sentence_units(rng, "en")) for _ in range(15)]
    elif kind == "boilerplate":
        lines = ["Home | About | Contact | Login", "Please enable JavaScript to view this page.",
                 "Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "Cookie policy", "Terms of use",
                 "Copyright 2024. All rights reserved."]
    else:
        letters = "bcdfghjklmnpqrstvwxz"
        lines = [" ".join("".join(rng.choices(letters, k=rng.randint(2, 14))) for _ in range(12))
                 for _ in range(20)]
    return _Draft("" if kind == "gibberish" else "en", [[("\n".join(lines), [])]], kind)
