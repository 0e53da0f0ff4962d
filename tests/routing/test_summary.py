"""The ticket summary: who, what was asked, what was tried, in the conversation's language, quoting only."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from routing.summary import ELLIPSIS, Language, Speaker, TranscriptMessage, detect_language, summarize


def said(speaker: Speaker, text: str, **extra: object) -> TranscriptMessage:
    return TranscriptMessage(speaker, text, **extra)  # type: ignore[arg-type]


CHINESE = [
    said(Speaker.CUSTOMER, "你好"),
    said(Speaker.CUSTOMER, "我的订单还没到，已经一周了。能帮我查一下吗？"),
    said(Speaker.BOT, "您可以在“我的订单”里查看物流信息。还有其他问题吗？"),
    said(Speaker.AGENT, "我已经联系仓库了。请稍等。", sender_name="李"),
    said(Speaker.SYSTEM, "会话已转接"),
    said(Speaker.CUSTOMER, "什么时候能到？", attachments=1),
]


def test_a_chinese_conversation_is_summarised_in_chinese() -> None:
    summary = summarize(CHINESE, customer_name="王小明")
    assert summary.language is Language.ZH
    assert summary.text == (
        "客户：王小明（3 条消息，1 个附件）\n"
        "诉求：“我的订单还没到，已经一周了。” / “能帮我查一下吗？” / “什么时候能到？”\n"
        "已尝试：\n"
        "- 机器人：“您可以在“我的订单”里查看物流信息。”\n"
        "- 客服 李：“我已经联系仓库了。”"
    )


def test_an_english_conversation_is_summarised_in_english() -> None:
    summary = summarize(
        [
            said(Speaker.CUSTOMER, "Hi!"),
            said(
                Speaker.CUSTOMER,
                "My invoice shows the wrong VAT number. I need it for my accountant. Can you fix it?",
            ),
            said(Speaker.BOT, "Invoices can be edited under Billing > Invoices. Did that help?"),
            said(Speaker.BOT, "Invoices can be edited under Billing > Invoices."),
        ],
        customer_name="Ada  Lovelace",
    )
    assert summary.text == (
        "Customer: Ada Lovelace (2 messages)\n"
        "Asked: \u201cMy invoice shows the wrong VAT number.\u201d / \u201cCan you fix it?\u201d\n"
        "Tried:\n"
        "- Bot: \u201cInvoices can be edited under Billing > Invoices.\u201d"
    )


def test_nothing_tried_and_no_name_are_said_plainly() -> None:
    summary = summarize([said(Speaker.CUSTOMER, "Where is my parcel?")])
    assert (
        summary.text
        == "Customer: (no name given) (1 message)\nAsked: \u201cWhere is my parcel?\u201d\nTried: nothing yet"
    )


def test_a_long_sentence_is_cut_not_reworded() -> None:
    long = "I ordered " + "a very long list of things " * 10 + "and nothing came."
    summary = summarize([said(Speaker.CUSTOMER, long)], max_excerpt=40)
    assert summary.asked[0].endswith(ELLIPSIS) and len(summary.asked[0]) <= 40
    assert long.startswith(summary.asked[0].removesuffix(ELLIPSIS))


def test_the_language_can_be_given_and_is_detected_from_the_customer() -> None:
    assert summarize(CHINESE, language=Language.EN).text.startswith("Customer: (no name given)")
    assert detect_language(["我的iPhone 15坏了"]) is Language.ZH
    assert detect_language(["The order for 王小明 failed to ship"]) is Language.EN
    assert detect_language([]) is Language.EN


messages = st.lists(
    st.builds(
        TranscriptMessage,
        st.sampled_from(list(Speaker)),
        st.text(st.sampled_from("ab 你好吗？?.。!\n"), max_size=60),
    ),
    max_size=12,
)


@given(messages)
def test_every_excerpt_is_quoted_from_a_message(transcript: list[TranscriptMessage]) -> None:
    """Never inventing content: each sentence in the summary appears in some message (whitespace collapsed)."""
    texts = [" ".join(message.text.split()) for message in transcript]
    summary = summarize(transcript, max_excerpt=20)
    for excerpt in [*summary.asked, *(step.excerpt for step in summary.tried)]:
        assert excerpt.strip()
        assert any(excerpt.removesuffix(ELLIPSIS) in text for text in texts)
