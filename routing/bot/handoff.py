"""Does the customer want a person? Asked for outright (人工, 转人工, "talk to a human") or shown by
clear frustration (insults, "this is useless", a bare "???", 你到底懂不懂, 问了三遍了, "the same answer
again", time wasted).

Words such as 客服, agent or human also appear in ordinary questions ("客服几点下班", "how do I
become an agent?", 人工智能, 人工费), which the bot should answer, not hand over. Those phrases are
masked first (经理椅, a chair, too); then a request needs a person word on its own, or together with a
verb of asking for one (转, 找, 要, 接, a measure word between or not: 转个人工, 接一下坐席; talk, speak,
transfer). Asking whether anyone is there (有人吗, "anyone there?"), for someone real ("someone real I can
talk to", "can a human help me") or for anything but the bot (别让机器人回答, "instead of a bot") asks too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from routing.bot.folding import fold

__all__ = ["HandoffReason", "HandoffSignal", "asks_for_ticket", "detect_handoff"]

HandoffReason = Literal["asked_for_human", "frustration"]


@dataclass(frozen=True, slots=True)
class HandoffSignal:
    """Why the conversation should go to a person, and the words that said so."""

    reason: HandoffReason
    phrase: str


NOT_A_REQUEST = re.compile(
    r"人工(?:智能|费|成本|湖|草|合成|降雨)|真人秀|(?:经理|主管)(?:椅|桌|台|柜)|"
    r"客服(?=\s*(?:电话|热线|邮箱|号码|几点|什么时候|时间|工作时间|上班|下班|在线时间|营业))|"
    r"(?:周末|晚上|夜里|夜间|半夜|凌晨|早上|节假日|假期|假日|过年|春节|国庆|周[1-7一二三四五六日天]|星期[1-7一二三四五六日天]|几点|\d+点)"
    r"(?:期间|的时候)?(?:也|还|都)?有(?:没有)?(?:人工)?客服|"
    r"垃圾(?:桶|袋|箱|分类|篓)|没用(?:过|完|上|到)|滚(?:筒|动|轮)|"
    r"\bhuman (?:resources|error|rights|hair|body)\b|\bhumans?\b(?= (?:or|and) machines?)|"
    r"\b(?:become|becoming|sales|travel|estate|insurance|shipping|customs|booking) (?:an? )?agents?\b|"
    r"\bagent (?:orange|commission|fee|program)s?\b|"
    r"\bcustomer (?:service|support) (?:hours|number|phone|email|times?)\b"
)
"""Phrases that contain a handoff word but ask something else; masked before the patterns below."""

CHINESE_PERSON = r"(?:人工(?:客服|服务|坐席|座席)?|客服|坐席|座席|真人|活人|人类|工作人员|经理|主管)"
CHINESE_BETWEEN = r"(?:[一\s]?(?:个|位|名|下))?"
"""What may stand between a verb and the person asked for: 转个人工, 接一下坐席, 叫一位经理 (whose 一, folded to 1
before a measure word, is a space among the words)."""
ENGLISH_PERSON = r"(?:human(?: being)?|real person|person|live agent|agent|representative|rep|operator|staff member|manager|supervisor)"
SOMEONE = r"(?:someone|somebody|anyone|anybody|a person|people)"
BOT = r"(?:chat ?bot|bot|robot|automated (?:answer|reply|replies|response|system))\b(?! (?:vacuum|cleaner|mower|toy|arm)s?\b)"
"""The bot, as a customer who wants a person names it ("instead of a bot"); not a product (a robot vacuum)."""

ASKED_FOR_HUMAN = (
    re.compile(
        rf"^(?:我要|我想|请|帮我)?(?:转(?:到|给)?|找|接)?{CHINESE_BETWEEN}{CHINESE_PERSON}(?:吧|呢|啊|吗|在吗|在不在)?$"
    ),
    re.compile(
        rf"(?:转(?:到|给)?|找|要|叫|接|联系|换|请|让|给我|跟|和|同|有没有){CHINESE_BETWEEN}{CHINESE_PERSON}|"
        rf"{CHINESE_PERSON}(?:在吗|在不在|来|说话|聊|回复我)"
    ),
    re.compile(rf"^(?:an? |the )?(?:{ENGLISH_PERSON}|customer (?:service|support))(?: please| now| pls)?$"),
    re.compile(
        rf"\b(?:talk|speak|chat|connect|transfer|put|get|give|want|need|reach|escalate)\b[\w' ]{{0,30}}?\b{ENGLISH_PERSON}s?\b"
    ),
    re.compile(rf"\b(?:talk|speak|chat) (?:to|with) {SOMEONE}\b"),
    re.compile(
        rf"(?<!\S)(?:请问|喂|你好)?(?:有人在?(?:吗|嘛|么|没|没有|不|啊|呢)|有没有人在?(?:啊|呢|吗)?)(?=\s|$)|"
        rf"有{CHINESE_PERSON}在?(?:吗|嘛|么|没有|不)|"
        r"(?:不要|不想要|别|别再|不想|不用)(?:让|用|跟|和|同)?(?:你这个?|这个?|破)?机器人(?=\s|$|回答|回复|答|来|说|聊)"
    ),
    re.compile(
        rf"^(?:(?:hello|hi|hey) )*(?:is |are )?(?:there )?(?:{SOMEONE}|a human)(?: there| here| real| alive| around| at all)?$|"
        rf"\b(?:someone|somebody|anyone|anybody) (?:real|actual|alive|human)\b|"
        rf"\b(?:{SOMEONE}|{ENGLISH_PERSON})\b[\w' ]{{0,15}}?\b(?:i|we) (?:can|could) (?:talk|speak|chat)\b|"
        rf"\b(?:human|(?:real|actual|live) (?:person|people|agent|someone))s? (?:to )?"
        rf"(?:help|assist|answer|respond to|reply to|look at|check|call|contact|email) (?:me|us|my|this|with)\b|"
        rf"\b(?:instead of|rather than|other than) (?:an? |the |this |some |your |you |talking to |chatting with )?{BOT}"
    ),
)

COUNT = r"\d+|[一二两三四五六七八九十]+|好几|几|多少|无数|n"
"""How many times, in figures or in characters (遍 is not a measure word that folding turns into digits)."""

FRUSTRATION = (
    re.compile(
        r"垃圾|没用|没有用|废物|破机器人|什么破|智障|傻[逼瓜子]|弱智|蠢|滚|气死|无语|听不懂|答非所问|废话|骗子|坑人|去死|妈的|tmd"
    ),
    re.compile(
        r"\b(?:this|that|it|you|u|bot|chatbot|so|completely|totally|utterly)(?:'re| are| is|'s)? useless\b|^useless\b|\buseless (?:bot|answer|service)\b"
    ),
    re.compile(
        r"\b(?:stupid|idiot(?:ic)?|dumb|ridiculous|pointless|wtf|fuck\w*|f\*+k|damn|crap|rubbish|waste of (?:my )?time)\b"
    ),
    re.compile(
        r"\b(?:not|n't) (?:help(?:ing|ful)?|understand(?:ing)?)\b|\bdoesn't help\b|\bnot what i asked\b"
    ),
    # the bot, not a product, does not understand: 你到底懂不懂, 你能不能听懂 (not 音箱能不能听懂方言)
    re.compile(
        r"你们?(?:到底|究竟|根本|是不是|就是|完全|还是)?(?:懂不懂|明不明白|听不听得懂|能不能(?:听|看)?(?:懂|明白)|"
        r"能(?:听|看)懂吗|(?:听|看)得懂吗|听懂了吗)|"
        r"你们?(?:到底|究竟|根本|是不是|就是|完全|还是)(?:不懂|不明白|没懂|没听懂|没看懂)|说人话|"
        r"\b(?:are|do) you (?:even )?(?:listening|reading)\b|\bdo you even understand\b|\bcan't you (?:read|understand)\b"
    ),
    # saying the same thing again, or being asked the same thing again
    re.compile(
        rf"(?:问|说|讲|重复|解释)(?:了|过)(?:{COUNT})(?:遍|次)(?=了|还|都|你|也|\s|[,，.。!！?？]|$)|"
        rf"(?:问|说|讲|重复|解释)(?:{COUNT})(?:遍|次)了|"
        r"(?:还是|又是|总是|老是|一直是?|都是)(?:这|那|同|一|1)(?:1|一)?(?:句|个|样|套|段)的?(?:话|回答|答案|答复|回复)|"
        r"复读机|车轱辘话|"
        r"\b(?:you|u|bot|chatbot)(?: just)? (?:keep|keeps|kept) (?:on )?(?:giving|saying|sending|repeating|telling|replying)\b|"
        r"\bsame (?:\w+ ){0,2}?(?:answer|reply|response)s?\b(?: \w+){0,3}? (?:again|over and over)\b|"
        r"\b(?:asked|said|told you|explained|typed)\b(?: \w+){0,3}? (?:twice|(?:\d+|two|three|four|five|ten|several|many|"
        r"multiple|so many|a hundred) times)\b"
    ),
    # time wasted, the worst service
    re.compile(
        r"浪费了?(?:我|我们)?的?(?:\d+|[一二两三四五六七八九十半]+)个?(?:分钟|小时|钟头)|浪费了?我们?的?(?:时间|半天|生命|口舌)|"
        r"白白浪费|最(?:烂|差劲)|最差的?(?:机器人|客服|服务|体验|回答)|"
        r"\bwast(?:ed|ing) (?:my |our |so much |all my |half an |an? |a lot of |\d+ |so many |hours of )(?:\w+ )?"
        r"(?:time|minutes?|mins?|hours?|afternoon|morning|day|evening)\b|"
        r"\bworst\b (?:\w+ ){0,2}?(?:bot|chatbot|robot|service|support|help|experience|company|shop|store|answer)s?\b|"
        r"\bworst\b[\w' ]{0,25}\bever\b"
    ),
)

BARE_MARKS = re.compile(r"[?!]{3,}")
WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
"""Words, with their apostrophes; request patterns are matched on the words alone, punctuation dropped."""


def detect_handoff(text: str) -> HandoffSignal | None:
    """A handoff signal in one customer message, or None when the bot should go on answering."""
    folded = NOT_A_REQUEST.sub(" ", fold(text))
    words = " ".join(WORDS.findall(folded))
    for pattern in ASKED_FOR_HUMAN:
        if match := pattern.search(words):
            return HandoffSignal("asked_for_human", match.group(0))
    for pattern in FRUSTRATION:
        if match := pattern.search(folded):
            return HandoffSignal("frustration", match.group(0))
    marks = BARE_MARKS.search(folded)
    if marks and len(WORDS.findall(folded)) <= 2:
        return HandoffSignal("frustration", marks.group(0))
    return None


TICKET_REQUEST = (
    re.compile(
        r"(?:提交|提|开|建|创建|新建|登记|帮我开|帮我建)1?(?:个|张)?(?:售后)?工单|(?:我要|我想|想|要|帮我|给你们)留言"
    ),
    re.compile(
        r"\b(?:open|create|file|raise|submit|log|start|make)\b (?:a |an |me a )?(?:new )?(?:support |service )?"
        r"(?:ticket|case)\b|\bleave (?:you |a )?(?:a )?message\b"
    ),
)
"""Asking for a ticket (a case someone follows up later) rather than a reply now: 提交工单, 我要留言, "open a ticket",
"leave a message". A question about tickets ("how long does a ticket take?") names no such verb. Matched on folded
text, where 一 is already the digit 1."""


def asks_for_ticket(text: str) -> bool:
    """Whether one customer message asks the bot to open a ticket."""
    folded = fold(text)
    return any(pattern.search(folded) for pattern in TICKET_REQUEST)
