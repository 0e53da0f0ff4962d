"""Words that carry no topic: dropped before indexing so they neither match nor dilute a match.

Kept short on purpose. Words that tell questions apart ("much", "long", "when", 多久, 多少, 怎么)
stay in and are weighed down by their document frequency instead.
"""

from __future__ import annotations

__all__ = ["CHINESE_STOP_WORDS", "ENGLISH_STOP_WORDS"]

ENGLISH_STOP_WORDS = frozenset("""
a about am an and any are as at be been being but by could did do does doing don for from get got had
has have having he her hers him his i if im in into is it its itself just let me mine my myself of
on or our ours please s she so some t than that the their them then there these they this those to
too us ve was we were what which who whom will with would you your yours yourself hi hello hey thanks
thank ll re d can don didn doesn isn wasn aren weren won wouldn couldn shouldn haven hasn also just still really already anyway anymore now currently actually ever even maybe perhaps guys guy ok okay yes yeah oh um uh
""".split())

GENERIC_ENGLISH_VERBS = frozenset("""
come came go going gone want wanted need needed like liked make made tell told know think thought see seen
look try use used say said ask asked give gave take took put keep let help
""".split())

CHINESE_STOP_WORDS = frozenset("""
的 了 吗 呢 吧 啊 呀 哦 嘛 哈 啦 呗 么 着 过 得 地 我 你 您 他 她 它 我们 你们 他们 咱们 是 在 和 与 及 或
就 都 也 还 又 很 请 请问 一下 一个 这个 那个 这 那 一 个 我的 你的 你们的 想 要 想要 我想 我要 能
可以 可不可以 能不能 会 有没有 有 没 吗 么 啥 呃 嗯 谢谢 您好 你好 麻烦 问 问下 问一下 下
现在 目前 大概 大约 一般 平时 已经 刚 刚刚 刚才 还是 就是 但是 可是 不过 因为 所以 然后 如果 的话 而且 其实
应该 一直 总是 老是 到底 究竟 真的 非常 特别 比较 有点 一点 这样 那样 这么 那么 那些 这些 些
""".split())
