"""Handoff: a customer asking for a person, or clearly frustrated; not an ordinary question using those words.
And a customer asking for a ticket, not a question about tickets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.bot import asks_for_ticket, detect_handoff


@pytest.mark.parametrize(
    "text",
    [
        "人工",
        "转人工",
        "转人工！！",
        "人工客服",
        "客服",
        "真人",
        "找人工",
        "我要找人工客服",
        "有没有真人可以聊",
        "帮我转接人工服务",
        "叫你们经理来",
        "客服在吗",
        "agent",
        "Human please",
        "representative",
        "talk to a person",
        "let me talk to a real person",
        "can I speak to a human?",
        "transfer me to an agent",
        "I want to talk to someone",
        "get me a customer service representative",
        # a measure word, or a direction after 转, between the verb and the person
        "转个人工",
        "帮我转到人工",
        "转给客服吧",
        "麻烦接一下人工坐席",
        "叫一位经理过来",
        "找下客服",
        "我要1个真人",
        "座席",
        # is anyone there; not the bot
        "喂，有人吗？",
        "请问有人在吗",
        "有人工客服吗",
        "有主管吗",
        "别让机器人回答了",
        "不想跟机器人聊",
        "hello? anyone there?",
        "somebody real please",
        "is there anyone I could speak to",
        "is there someone actual to chat with",
        "can a human help me with this",
        "can a real person look at my order",
        "I'd like a human instead of this bot",
        "现在有客服吗",
    ],
)
def test_asking_for_a_person_hands_off(text: str) -> None:
    signal = detect_handoff(text)
    assert signal is not None and signal.reason == "asked_for_human"


@pytest.mark.parametrize(
    "text",
    [
        "你们这机器人太垃圾了",
        "没用",
        "说了半天没用",
        "答非所问",
        "你根本听不懂",
        "???",
        "？？？？",
        "!!!",
        "this is useless",
        "useless",
        "you're not helping",
        "what a stupid bot",
        "wtf",
        "this is ridiculous",
        # the bot does not understand
        "你到底懂不懂",
        "你根本不懂我在说什么",
        "你能听懂吗",
        "你是不是没看懂",
        "说人话",
        "are you even listening",
        "do you even understand",
        # the same thing again
        "我都说了三次了",
        "问过好几遍了",
        "又是这句话",
        "翻来覆去还是一样的回答",
        "复读机吗你",
        "you keep saying the same thing",
        "same answer again",
        "I have asked you twice",
        "I told you 3 times",
        # time wasted, the worst service
        "浪费我时间",
        "浪费了我二十分钟",
        "最差劲的客服",
        "you're wasting my time",
        "wasted an hour here",
        "worst service ever",
        "worst bot",
    ],
)
def test_clear_frustration_hands_off(text: str) -> None:
    signal = detect_handoff(text)
    assert signal is not None and signal.reason == "frustration"


@pytest.mark.parametrize(
    "text",
    [
        "how do I become an agent?",
        "how do I become an agent for your brand",
        "what is a sales agent commission",
        "do you have a human resources department",
        "is this table made by humans or machines",
        "人工智能音箱能连吗",
        "安装的人工费多少",
        "客服几点下班",
        "客服电话是多少",
        "what are your customer service hours",
        "can customer service help me change my address",
        "垃圾桶有卖吗",
        "is the bed frame useless without the slats?",
        "why was I charged twice?",
        "这个沙发我还没用过",
        "优惠券还没用完能退吗",
        "页面滚动不了",
        "退款什么时候到？",
        "",
        # finding customer service, a personal account, office furniture
        "几点前还能找到客服",
        "能转到个人账户吗",
        "想要经理椅",
        "有没有主管桌",
        "要个经理椅",
        "接下来怎么安装",
        # someone who bought or said something, staff who visit, a robot for sale
        "有人买过这个沙发吗",
        "有人说可以退，是真的吗",
        "你们有工作人员上门安装吗",
        "我不要机器人吸尘器了",
        "does anyone actually sit on this for hours?",
        "will someone be there to sign for it?",
        "are the reviews written by real people?",
        "this chair needs no human help to assemble",
        "can the delivery person help me carry it upstairs?",
        "can I get a regular vacuum instead of a robot vacuum?",
        "do you use people instead of robots in the warehouse?",
        "the captcha keeps saying I'm not a robot",
        # whether there is customer service at some hour
        "周末有客服吗",
        "晚上有没有人工客服",
        "过年期间还有客服吗",
        "星期天有客服吗",
        # a product that understands, instructions said or done some times, time and space a product takes
        "这个音箱能不能听懂方言",
        "孩子能不能看懂说明书",
        "如果你不懂安装可以叫师傅吗",
        "你们能看懂英文说明书吗",
        "我问了2次快递员都说明天到",
        "说明书说拧3次，对吗",
        "按键要重复3次吗",
        "这两个都是一样的东西吗",
        "颜色还是这个样的吗",
        "组装会浪费时间吗",
        "这个柜子浪费空间吗",
        "最差的情况下几天到",
        "米白等颜色有吗",
        "do you understand Chinese?",
        "is the answer the same for both sizes?",
        "can I order the same thing again?",
        "I ordered three times before",
        "how many times can I wash the cover?",
        "does this model waste time heating up?",
        "is any fabric wasted when you cut to size?",
        "the app keeps showing an error",
        "what's the worst case delivery time?",
        "which is the worst seller?",
    ],
)
def test_ordinary_questions_with_handoff_words_do_not_hand_off(text: str) -> None:
    assert detect_handoff(text) is None


def test_the_signal_names_the_words_that_asked() -> None:
    signal = detect_handoff("请帮我转人工，谢谢")
    assert signal is not None and "人工" in signal.phrase


@given(st.text())
def test_detection_never_raises(text: str) -> None:
    detect_handoff(text)
    asks_for_ticket(text)


@pytest.mark.parametrize(
    "text",
    [
        "请帮我提交工单",
        "我要留言",
        "开个工单吧",
        "帮我建一个售后工单",
        "Please open a ticket",
        "Can you create a support ticket for this?",
        "I want to file a case about my order",
        "can I leave a message",
        "ＯＰＥＮ Ａ ＴＩＣＫＥＴ",
    ],
)
def test_asking_for_a_ticket_is_recognised(text: str) -> None:
    assert asks_for_ticket(text)


@pytest.mark.parametrize(
    "text",
    [
        "工单多久处理完？",
        "留言板在哪里",
        "How long does a ticket take to be answered?",
        "How much is a train ticket to Shanghai?",
        "Where do I see my ticket status?",
        "What is your return policy?",
    ],
)
def test_questions_about_tickets_are_not_requests(text: str) -> None:
    assert not asks_for_ticket(text)
