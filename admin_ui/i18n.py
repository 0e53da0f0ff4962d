"""The pages' language and theme: English or Simplified Chinese from the browser's Accept-Language, light or dark
from the system, each overridable by a cookie that the header's switch sets (the agent inbox reads the same ones)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = [
    "LANGUAGES",
    "LANG_COOKIE",
    "THEMES",
    "THEME_COOKIE",
    "chosen_language",
    "chosen_theme",
    "translator",
]

LANG_COOKIE = "omnihub_lang"
THEME_COOKIE = "omnihub_theme"
LANGUAGES = ("en", "zh-CN")
THEMES = ("light", "dark")

ZH_CN = {
    "Admin": "管理",
    "Inbox": "收件箱",
    "Inboxes": "接入渠道",
    "Agents and teams": "客服与团队",
    "Knowledge base": "知识库",
    "Webhooks": "Webhook",
    "Reports": "报表",
    "Language": "语言",
    "Theme": "主题",
    "System": "跟随系统",
    "Light": "浅色",
    "Dark": "深色",
    "Access denied": "无权访问",
    "Only administrators can open the admin pages.": "只有管理员可以打开管理页面。",
    "Back to the inbox": "返回收件箱",
    "Not found": "未找到",
    "Name": "名称",
    "Kind": "类型",
    "Status": "状态",
    "Created": "创建时间",
    "Connect a channel": "接入新渠道",
    "Create inbox": "创建渠道",
    "Save": "保存",
    "Saved.": "已保存。",
    "Required": "必填",
    "What to paste where": "需要填写的内容",
    "Health": "运行状况",
    "Last customer message": "最近一条客户消息",
    "Last reply sent": "最近一条已发送回复",
    "Last error": "最近错误",
    "Failed replies (24 h)": "失败回复（24 小时）",
    "Poller status": "拉取状态",
    "never": "从未",
    "none": "无",
    "Routing": "分配策略",
    "Strategy": "策略",
    "Fallback": "后备策略",
    "Team": "团队",
    "All agents": "全部客服",
    "Skill required": "需要技能匹配",
    "Answer timeout (seconds)": "回复超时（秒）",
    "Weights": "权重",
    "Business hours": "营业时间",
    "Time zone": "时区",
    "Closed dates": "休息日",
    "Out-of-hours message": "非营业时间自动回复",
    "Out-of-hours action": "非营业时间处理方式",
    "Open now": "当前营业中",
    "Closed now": "当前休息中",
    "Role": "角色",
    "Skills": "技能",
    "Capacity": "接待上限",
    "Presence": "在线状态",
    "Teams": "团队",
    "Members": "成员",
    "New team": "新建团队",
    "Create team": "创建团队",
    "Articles": "文章",
    "Title": "标题",
    "Questions": "问题",
    "Answer": "答案",
    "Locale": "语言区域",
    "Tags": "标签",
    "Enabled": "启用",
    "Edit": "编辑",
    "New article": "新建文章",
    "Create article": "创建文章",
    "Import": "导入",
    "File": "文件",
    "Format": "格式",
    "Try a question": "试问一个问题",
    "Ask": "提问",
    "Decision": "决定",
    "Matched article": "匹配文章",
    "Score": "得分",
    "Next page": "下一页",
    "Subscriptions": "订阅",
    "New subscription": "新建订阅",
    "Subscribe": "订阅",
    "Events": "事件",
    "Deliveries": "投递记录",
    "Event": "事件",
    "Attempts": "尝试次数",
    "Response code": "响应码",
    "Replay": "重新投递",
    "Signing secret (shown once)": "签名密钥（仅显示一次）",
    "From": "开始",
    "To": "结束",
    "Channel": "渠道",
    "All channels": "全部渠道",
    "Show": "查看",
    "Download CSV": "下载 CSV",
    "Conversations per channel per day": "每日各渠道会话数",
    "Conversations": "会话",
    "Day": "日期",
    "Response and resolution times": "响应与解决时长",
    "First response": "首次响应",
    "Resolution": "解决",
    "Time in queue": "排队时长",
    "Bot deflection rate": "机器人拦截率",
    "Bot conversations": "机器人参与的会话",
    "Resolved by the bot": "由机器人解决",
    "CSAT distribution": "满意度分布",
    "Rating": "评分",
    "Responses": "评价数",
    "Average": "平均",
    "Per agent": "按客服",
    "Agent": "客服",
    "Handled": "处理量",
    "Average handle time": "平均处理时长",
    "Sign out": "退出登录",
    "Open": "查看",
    "fact:callback_url": "服务器地址（URL）：粘贴到渠道后台的服务器配置",
    "fact:token": "令牌（Token）：与渠道后台填写的一致",
    "fact:encoding_aes_key": "消息加解密密钥（EncodingAESKey）：与渠道后台一致",
    "fact:app_id": "应用 ID（AppID）",
    "fact:mode": "消息加解密方式：与渠道后台一致",
    "fact:embed_snippet": "脚本标签：放在网站每个页面的 </body> 之前",
    "fact:widget_token": "网页聊天令牌",
    "fact:identity_secret": "身份校验密钥：只留在你的服务器上，用于签名 identify 调用",
}

EN = {
    "fact:callback_url": "Callback URL: paste into the channel console's server settings",
    "fact:token": "Token: paste into the channel console, exactly as here",
    "fact:encoding_aes_key": "EncodingAESKey: the same in the channel console",
    "fact:app_id": "App ID",
    "fact:mode": "Encryption mode: the same in the channel console",
    "fact:embed_snippet": "Script tag: paste before </body> on every page of your site",
    "fact:widget_token": "Widget token",
    "fact:identity_secret": "Identity secret: keep on your server, it signs identify calls",
}


def chosen_language(cookie: str | None, accept_language: str) -> str:
    """The cookie when it names a language we have; else the first Chinese or English of the browser's list."""
    if cookie in LANGUAGES:
        return cookie
    ranked = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "en"


def chosen_theme(cookie: str | None) -> str | None:
    """`light` or `dark` as set by the switch; None follows the system (prefers-color-scheme)."""
    return cookie if cookie in THEMES else None


def translator(language: str) -> Callable[[str], str]:
    """Texts are keyed by their English (or `fact:<name>` for a channel's connection fact); a text without a
    translation shows in English, a fact nobody described by its name."""
    table: Mapping[str, str] = ZH_CN if language == "zh-CN" else {}
    return lambda text: table.get(text) or EN.get(text) or text.removeprefix("fact:")
