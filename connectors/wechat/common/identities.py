"""The identity kinds WeChat's messages name: an openid is unique per app (its scope), a unionid across the
apps of one WeChat open platform account."""

__all__ = ["WECHAT_IDENTITY_KINDS", "WECHAT_OPENID", "WECHAT_UNIONID"]

WECHAT_OPENID = "wechat_openid"
WECHAT_UNIONID = "wechat_unionid"
WECHAT_IDENTITY_KINDS = frozenset({WECHAT_OPENID, WECHAT_UNIONID})
