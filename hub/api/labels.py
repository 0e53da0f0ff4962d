"""Conversation labels: replace a conversation's set, and list the workspace's labels in use with their counts."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from msgspec import Meta
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events, labels
from hub.api.dependencies import load_conversation
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import CursorQuery, IdPath
from hub.models import ConversationLabel
from hub.realtime import workspace_channel
from hub.runtime import Hub
from hub.views import ConversationView, LabelCount, LabelPage

__all__ = ["LabelController", "LabelQuery", "label_or_400"]

LabelQuery = Annotated[
    str | None,
    QueryParameter(min_length=1, max_length=100, description="Only conversations carrying this label."),
]


class LabelsBody(msgspec.Struct, forbid_unknown_fields=True):
    labels: Annotated[
        list[Annotated[str, Meta(max_length=100)]],
        Meta(
            max_length=100, description="The whole set: labels not named are removed. Trimmed, lower-cased."
        ),
    ]


def invalid_labels(refused: labels.InvalidLabels) -> ApiError:
    return ApiError(
        400,
        "invalid_label",
        f"{refused.field}: {refused.message}.",
        extra=[{"field": refused.field, "message": refused.message}],
    )


def label_or_400(value: str) -> str:
    """A label given in a query, normalised as a stored one is; 400 `invalid_label` when it could not be one."""
    try:
        [label] = labels.normalised_labels([value])
    except labels.InvalidLabels as refused:
        raise invalid_labels(labels.InvalidLabels("label", refused.message)) from None
    return label


def _label_cursor(label: str) -> str:
    return base64.urlsafe_b64encode(label.encode()).decode()


def _label_after(cursor: str) -> str:
    try:
        return label_or_400(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (ApiError, binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API returned.") from None


class LabelController(Controller):
    tags = ("labels",)

    @put("/conversations/{conversation_id:str}/labels", responses=error_responses(400, 401, 404, 413))
    async def replace_conversation_labels(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        conversation_id: IdPath,
        data: JSONBody[LabelsBody],
    ) -> ConversationView:
        """Replace the conversation's labels with `labels` (at most 20; each 1-40 letters, digits, `-` or `_`,
        trimmed and lower-cased, CJK included); 400 `invalid_label` names the first that is not one. A change
        sends `conversation.labels_changed`."""
        try:
            wanted = labels.normalised_labels(data.labels)
        except labels.InvalidLabels as refused:
            raise invalid_labels(refused) from None
        conversation = await load_conversation(session, caller, conversation_id)
        event = await labels.replace_labels(session, conversation, wanted)
        if event is not None:
            await session.commit()
            await hub.publisher.publish(event, [workspace_channel(caller.workspace_id)])
        return events.conversation_view(conversation)

    @get("/labels", responses=error_responses(400, 401))
    async def list_labels(
        self,
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 100,
    ) -> LabelPage:
        """The labels on the workspace's conversations, in label order, with how many conversations carry each."""
        statement = select(ConversationLabel.label, func.count()).where(
            col(ConversationLabel.workspace_id) == caller.workspace_id
        )
        if cursor:
            statement = statement.where(col(ConversationLabel.label) > _label_after(cursor))
        rows = (
            await session.exec(
                statement.group_by(col(ConversationLabel.label))
                .order_by(col(ConversationLabel.label))
                .limit(limit + 1)
            )
        ).all()
        page = rows[:limit]
        return LabelPage(
            items=[LabelCount(label=label, conversations=count) for label, count in page],
            next_cursor=_label_cursor(page[-1][0]) if len(rows) > limit else None,
        )
