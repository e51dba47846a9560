"""The word lists, sentence templates and site names the sample corpus (sample_corpus.py) is
generated from: English and Chinese, enough for grammatical-looking prose that passes the
clean stage's quality rules."""

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
EN_TEMPLATES = [
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
ZH_TEMPLATES = [
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

EN_LISTS = {"D": _EN_DETERMINERS, "A": _EN_ADJECTIVES, "N": _EN_NOUNS, "V": [v[0] for v in _EN_VERBS],
             "T": [v[1] for v in _EN_VERBS], "P": [v[2] for v in _EN_VERBS], "R": _EN_ADVERBS,
             "I": _EN_PREPOSITIONS, "S": _EN_SUBJECTS, "C": _EN_CONNECTIVES}
ZH_LISTS = {"A": _ZH_ADJECTIVES, "N": _ZH_NOUNS, "V": _ZH_VERBS, "R": _ZH_ADVERBS, "S": _ZH_SUBJECTS,
             "C": _ZH_CONNECTIVES}
# Words a near duplicate may replace, each with the list its replacement is drawn from.
# Only single content words: replacing them keeps the sentence grammatical.
REPLACEABLE = {word: lists[slot] for lists, slots in ((EN_LISTS, "ANVTPR"), (ZH_LISTS, "ANVR"))
                for slot in slots for word in lists[slot]}

EN_SITES = ["dailyreport", "cityjournal", "openlibrary", "learnhub", "greenfield", "travelnotes", "sciencedesk",
             "familytimes", "marketwatcher", "healthline-news"]
ZH_SITES = ["xinwen", "shenghuo", "keji", "jiaoyu", "lvyou", "wenhua"]
