"""The worker side of a received message: media copied through the media API, the unionid looked up."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import respx

from connectors.base import ConnectorContext
from connectors.wechat.common.access_token import token_refresh_lock_key
from connectors.wechat.common.identities import WECHAT_UNIONID
from normalizer import Attachment, IdentityRef
from tests.connectors.wechat.conftest import ACCESS_TOKEN
from tests.connectors.wechat.support import (
    OA_OPENID,
    InterleavingStore,
    SavedAttachments,
    connector_context,
    fixture,
    mini_program,
    official_account,
    receive_one,
)

JPEG = b"\xff\xd8\xff\xe0 fixture jpeg"
UNIONID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def mock_user_info(wechat_api: respx.Router, **profile: object) -> respx.Route:
    return wechat_api.get("/cgi-bin/user/info", params={"openid": OA_OPENID}).respond(
        json={"subscribe": 1, "openid": OA_OPENID, **profile}
    )


async def test_an_image_is_copied_into_attachment_storage(
    wechat_api: respx.Router, context: ConnectorContext, saved: SavedAttachments
) -> None:
    media = wechat_api.get(
        "/cgi-bin/media/get", params={"media_id": "media_image_1", "access_token": ACCESS_TOKEN}
    )
    media.respond(
        content=JPEG,
        headers={"content-type": "image/jpeg", "content-disposition": 'attachment; filename="MEDIA.jpg"'},
    )
    mock_user_info(wechat_api)
    connector = official_account()
    message = await connector.enrich(receive_one(connector, fixture("oa_image.xml")), context)
    assert saved.saved == [(JPEG, "MEDIA.jpg", "image/jpeg")]
    [image] = message.attachments
    assert image == Attachment(
        "image",
        url="https://hub.example.test/attachments/1/MEDIA.jpg",
        media_id="media_image_1",
        mime_type="image/jpeg",
        size=len(JPEG),
    )


async def test_a_voice_message_keeps_its_recognition_text_and_gets_its_audio(
    wechat_api: respx.Router, context: ConnectorContext, saved: SavedAttachments
) -> None:
    wechat_api.get("/cgi-bin/media/get", params={"media_id": "media_voice_1"}).respond(
        content=b"#!AMR\n", headers={"content-type": "audio/amr"}
    )
    mock_user_info(wechat_api)
    connector = official_account()
    message = await connector.enrich(receive_one(connector, fixture("oa_voice.xml")), context)
    assert message.text == "我想退货"
    assert saved.saved == [(b"#!AMR\n", "media_voice_1", "audio/amr")]
    assert message.attachments[0].url == "https://hub.example.test/attachments/1/media_voice_1"


async def test_a_video_is_fetched_from_the_link_wechat_answers_with(
    wechat_api: respx.Router, context: ConnectorContext, saved: SavedAttachments
) -> None:
    """The media API answers a video with JSON holding a download link rather than the bytes."""
    video_url = "https://vweixinf.tc.qq.com/fixture/video.mp4"
    wechat_api.get("/cgi-bin/media/get", params={"media_id": "media_video_1"}).respond(
        json={"video_url": video_url}
    )
    wechat_api.get(video_url).respond(
        content=b"\x00\x00\x00\x18ftypmp42", headers={"content-type": "video/mp4"}
    )
    mock_user_info(wechat_api)
    connector = official_account()
    message = await connector.enrich(receive_one(connector, fixture("oa_video.xml")), context)
    assert saved.saved == [(b"\x00\x00\x00\x18ftypmp42", "media_video_1", "video/mp4")]
    assert message.attachments[0].meta == {"thumb_media_id": "thumb_video_1"}
    assert message.attachments[0].mime_type == "video/mp4"


async def test_a_failed_download_keeps_the_message_with_the_reason(
    wechat_api: respx.Router, context: ConnectorContext, saved: SavedAttachments
) -> None:
    wechat_api.get("/cgi-bin/media/get").respond(json={"errcode": 40007, "errmsg": "invalid media_id"})
    mock_user_info(wechat_api)
    connector = official_account()
    message = await connector.enrich(receive_one(connector, fixture("oa_image.xml")), context)
    [image] = message.attachments
    assert saved.saved == [] and image.url is None
    assert image.meta["channel_url"] == "https://mmbiz.qpic.cn/mmbiz_jpg/fixture/0"
    assert "40007" in image.meta["download_error"] and "invalid media_id" in image.meta["download_error"]


async def test_an_unreachable_media_api_keeps_the_message(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    wechat_api.get("/cgi-bin/media/get").mock(side_effect=httpx.ConnectTimeout("timed out"))
    mock_user_info(wechat_api)
    connector = official_account()
    message = await connector.enrich(receive_one(connector, fixture("oa_voice.xml")), context)
    assert message.text == "我想退货"
    assert "could not reach" in message.attachments[0].meta["download_error"]


async def test_the_unionid_is_looked_up_and_linked_as_a_verified_identity(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    user_info = mock_user_info(wechat_api, unionid=UNIONID, nickname="小明")
    connector = official_account()
    message = await connector.enrich(receive_one(connector, fixture("oa_text.xml")), context)
    assert user_info.call_count == 1
    assert user_info.calls.last.request.url.params["lang"] == "zh_CN"
    assert message.linked_identities == (IdentityRef(WECHAT_UNIONID, UNIONID, verified=True),)
    assert message.sender_name == "小明"
    assert message.sender.scope == connector.settings.app_id


async def test_a_unionid_already_in_the_message_needs_no_lookup(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    user_info = mock_user_info(wechat_api, unionid="someone-else")
    connector = official_account()
    received = receive_one(connector, fixture("oa_text_with_unionid.xml"))
    assert await connector.enrich(received, context) == received
    assert user_info.call_count == 0


async def test_a_failed_profile_lookup_keeps_the_message_as_received(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    wechat_api.get("/cgi-bin/user/info").respond(json={"errcode": 48001, "errmsg": "api unauthorized"})
    connector = official_account()
    received = receive_one(connector, fixture("oa_text.xml"))
    assert await connector.enrich(received, context) == received


async def test_profile_lookups_during_a_token_outage_ask_for_the_token_once(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    """Every inbound message looks its sender up; while WeChat refuses tokens they skip it instead of queueing."""
    wechat_api.routes["token"].side_effect = [httpx.ConnectError("unreachable")]
    user_info = mock_user_info(wechat_api, unionid=UNIONID)
    connector = official_account()
    received = receive_one(connector, fixture("oa_text.xml"))
    for _ in range(20):
        assert await connector.enrich(received, context) == received
    assert wechat_api.routes["token"].call_count == 1 and user_info.call_count == 0


async def test_a_burst_of_profile_lookups_shares_one_token_request_and_one_lock(
    wechat_api: respx.Router, http: httpx.AsyncClient
) -> None:
    """A worker enriches a whole batch at once: the look-ups that find no token wait for one attempt, not in line
    for the shared refresh lock (which, in the database, costs each waiter a transaction every 50 ms)."""
    locks_taken: list[str] = []

    class CountingStore(InterleavingStore):
        @asynccontextmanager
        async def lock(self, key: str, ttl: timedelta):
            locks_taken.append(key)
            async with super().lock(key, ttl):
                await asyncio.sleep(0.01)
                yield

    wechat_api.routes["token"].side_effect = [httpx.ConnectError("unreachable")]
    user_info = mock_user_info(wechat_api, unionid=UNIONID)
    connector = official_account()
    context = connector_context(http, CountingStore())
    received = receive_one(connector, fixture("oa_text.xml"))
    enriched = await asyncio.gather(*(connector.enrich(received, context) for _ in range(50)))
    assert enriched == [received] * 50
    assert locks_taken == [token_refresh_lock_key(connector.settings.app_id)]
    assert wechat_api.routes["token"].call_count == 1 and user_info.call_count == 0


async def test_a_user_without_unionid_links_nothing(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    """Accounts not bound to an open platform account have no unionid; unfollowed users answer subscribe 0."""
    mock_user_info(wechat_api, subscribe=0)
    connector = official_account()
    received = receive_one(connector, fixture("oa_event_unsubscribe.xml"))
    assert await connector.enrich(received, context) == received


async def test_the_mini_program_copies_images_and_has_no_profile_api(
    wechat_api: respx.Router, context: ConnectorContext, saved: SavedAttachments
) -> None:
    wechat_api.get("/cgi-bin/media/get", params={"media_id": "media_mp_image_1"}).respond(
        content=JPEG, headers={"content-type": "image/jpeg"}
    )
    user_info = wechat_api.get("/cgi-bin/user/info").respond(json={"unionid": UNIONID})
    connector = mini_program()
    message = await connector.enrich(receive_one(connector, fixture("mp_image.json")), context)
    assert saved.saved == [(JPEG, "media_mp_image_1", "image/jpeg")]
    assert message.linked_identities == () and user_info.call_count == 0


async def test_messages_without_media_make_no_media_call(
    wechat_api: respx.Router, context: ConnectorContext
) -> None:
    media = wechat_api.get("/cgi-bin/media/get").respond(content=b"")
    mock_user_info(wechat_api)
    connector = official_account()
    for name in ("oa_location.xml", "oa_link.xml", "oa_file.xml", "oa_event_click.xml"):
        received = receive_one(connector, fixture(name))
        assert await connector.enrich(received, context) == received
    assert media.call_count == 0
