"""Equivalent terms of customer service in general, Chinese and English, built into the engine.

Customers ask the same thing in many words ("how soon", 多快, 几天; "cracked", 碎了, 破损), and a
knowledge base written by a business rarely lists them all. These groups hold for any shop or
service; a business's own synonym list is merged with them (groups sharing a term become one).
Chinese phrases of one character are avoided: they match inside unrelated words.
"""

from __future__ import annotations

__all__ = ["COMMON_SYNONYMS", "IRREGULAR_ENGLISH_FORMS"]

COMMON_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("多久", "多长时间", "几天", "多少天", "多快", "多少时间", "how long", "how soon", "how quickly", "how many days",
     "how much time"),
    ("送到", "寄到", "送达", "运到", "收到货", "arrive", "arrival", "get here"),
    ("发货", "寄出", "出库", "寄出来", "发出", "dispatch", "ship out", "send out", "sent out"),
    ("费用", "收费", "花钱", "要钱", "掏钱", "另外收钱", "多少钱", "cost", "fee", "charge", "charged extra"),
    ("免费", "不收钱", "不要钱", "free", "free of charge", "no charge"),
    ("坏了", "坏掉", "破损", "损坏", "碎了", "碎掉", "裂开", "裂了", "断了", "摔坏", "有坑", "凹陷", "damaged", "broken",
     "broke", "cracked", "smashed", "shattered", "dented", "defective", "faulty"),
    ("丢了", "丢失", "不见了", "被偷", "偷走", "lost", "missing", "stolen", "disappeared", "never arrived"),
    ("缺货", "无货", "没货", "卖完", "卖光", "售罄", "断货", "没有货", "out of stock", "sold out", "unavailable"),
    ("补货", "再上架", "重新上架", "再有货", "back in stock", "restock", "available again", "in stock again"),
    ("清洁", "清洗", "擦拭", "去污", "清理", "擦干净", "clean", "cleaning", "wash", "wipe"),
    ("保养", "护理", "维护", "look after", "care for", "maintain", "maintenance"),
    ("联系", "联络", "联系上", "contact", "get in touch", "reach you", "reach out"),
    ("电话", "热线", "打电话", "phone", "telephone", "hotline", "call you", "ring you"),
    ("邮箱", "电邮", "电子邮件", "邮件", "email", "e-mail"),
    ("营业时间", "上班时间", "工作时间", "在线时间", "开门", "几点上班", "几点下班", "下线", "opening hours",
     "business hours", "working hours", "open", "close"),
    ("周末", "礼拜天", "星期天", "星期日", "周日", "周六", "星期六", "weekend", "weekends", "saturday", "sunday"),
    ("节假日", "假期", "法定假日", "国庆", "春节", "过年", "holiday", "holidays", "public holiday", "bank holiday"),
    ("购买", "下单", "订购", "buy", "purchase", "bought", "purchased"),
    ("东西", "商品", "产品", "宝贝", "物品", "stuff", "item", "product", "things", "goods"),
    ("修改", "更改", "变更", "改成", "改一下", "change", "modify", "edit", "update", "amend"),
    ("填错", "写错", "选错", "弄错", "错了", "不对", "wrong", "incorrect", "mistake", "by mistake"),
    ("注册", "开户", "创建账号", "新账号", "sign up", "register", "create an account", "new account", "open an account"),
    ("删除", "删掉", "注销", "销户", "清除", "delete", "remove", "erase", "deactivate"),
    ("忘记", "忘了", "想不起来", "记不得", "记不住", "forgot", "forget", "forgotten", "can't remember",
     "cannot remember"),
    ("登录", "登陆", "登入", "登不进去", "登不上", "log in", "login", "sign in", "logged in", "log on"),
    ("锁定", "被锁", "锁住", "冻结", "locked", "locked out", "blocked", "frozen"),
    ("付款", "支付", "付钱", "结账", "结算", "买单", "pay", "payment", "checkout", "check out"),
    ("失败", "不成功", "付不了", "支付不了", "被拒", "拒绝", "declined", "rejected", "failed"),
    ("扣款", "扣钱", "扣了", "被扣", "已扣", "扣费", "debited", "charged twice", "taken from my account"),
    ("未付款", "待付款", "未支付", "没付款", "unpaid", "not paid", "awaiting payment"),
    ("信用卡", "刷卡", "credit card", "visa", "mastercard"),
    ("发票", "开票", "收据", "invoice", "receipt", "fapiao", "vat invoice"),
    ("公司", "企业", "单位", "对公", "company", "business", "corporate", "firm", "学校", "school"),
    ("批量", "大批量", "批发", "团购", "大宗", "大量", "bulk", "wholesale", "large quantities", "large quantity",
     "big order"),
    ("优惠", "折扣", "打折", "discount", "special price", "deal", "便宜点", "便宜一点", "打个折"),
    ("优惠券", "优惠码", "折扣码", "代金券", "coupon", "promo code", "discount code", "voucher", "promotion code"),
    ("礼品卡", "购物卡", "gift card", "e-gift card", "gift voucher"),
    ("积分", "points", "loyalty points", "reward points"),
    ("降价", "便宜了", "差价", "价格保护", "价保", "买贵了", "price drop", "price went down", "cheaper",
     "lower price", "price difference", "price dropped"),
    ("保修", "质保", "保固", "warranty", "guarantee"),
    ("维修", "修理", "修好", "上门修", "repair", "fix", "fixed", "mend"),
    ("安装", "组装", "装好", "装配", "拼装", "assemble", "assembly", "assembled", "install", "put together",
     "set up", "fitter"),
    ("通知", "提醒", "告诉我", "notify", "remind", "alert"),
    ("广告", "促销", "营销", "推销", "推送", "promotional", "promotion", "marketing", "advertising", "ads", "offers",
     "spam", "newsletter"),
    ("短信", "text message", "texts", "sms"),
    ("退订", "取消订阅", "不想收到", "别再发", "unsubscribe", "opt out", "stop sending"),
    ("确认", "下单成功", "confirmation", "confirmed"),
    ("尺寸", "尺码", "大小", "太小", "太大", "size", "bigger", "smaller", "too small", "too big"),
    ("颜色", "colour", "color"),
    ("国外", "海外", "境外", "国际", "abroad", "overseas", "international", "outside china"),
    ("退款", "退钱", "返款", "退回款项", "refund", "money back", "reimburse", "paid back"),
    ("退货", "退回", "退掉", "退还", "寄回", "return", "send back", "send it back", "give back", "take back"),
    ("换货", "调换", "换一个", "exchange", "swap", "trade"),
    ("快递", "物流", "包裹", "快件", "parcel", "package", "courier"),
    ("运费", "邮费", "快递费", "配送费", "送货费", "postage", "shipping fee", "delivery fee", "delivery charge",
     "shipping cost"),
    ("包邮", "免运费", "免邮", "free shipping", "free delivery"),
    ("订单", "单子", "order"),
    ("取消", "撤销", "cancel"),
    ("地址", "收货地址", "收件地址", "address"),
    ("客服", "customer service", "support", "support team"),
    ("账号", "账户", "帐号", "帐户", "account"),
    ("密码", "password"),
    ("手机号", "手机号码", "mobile number", "phone number", "cell phone"),
    ("分期", "分期付款", "pay in instalments", "pay in installments", "instalment plan", "pay monthly"),
    ("实体店", "门店", "线下店", "展厅", "showroom", "physical store"),
    ("不想要", "不想要了", "不要了"),
    ("早上", "上午", "下午", "晚上", "夜里", "半夜", "深夜", "凌晨", "morning", "afternoon", "evening", "night",
     "overnight"),
    ("回复", "回消息", "回信息", "答复", "reply", "respond"),
    ("机洗", "洗衣机", "machine wash", "washing machine", "machine washable"),
    ("跟踪", "追踪", "查物流", "物流信息", "物流进度", "物流状态", "快递进度", "到哪了", "到哪儿了", "到哪里了", "送到哪",
     "寄到哪", "走到哪", "track", "tracking", "trace"),
    ("货到付款", "现金", "cash on delivery", "pay on delivery", "cash"),
    ("抵现", "抵钱", "抵扣", "当钱花", "当钱用", "换钱"),
    ("没收到", "没有收到", "未收到", "收不到"),
)

IRREGULAR_ENGLISH_FORMS: dict[str, str] = {
    form: verb
    for verb, forms in {
        "become": "became", "break": "broke broken", "bring": "brought", "build": "built", "buy": "bought",
        "choose": "chose chosen", "fall": "fell fallen", "feel": "felt", "find": "found", "forget": "forgot forgotten",
        "hold": "held", "leave": "left", "lose": "lost", "pay": "paid", "run": "ran", "sell": "sold", "send": "sent",
        "spend": "spent", "steal": "stole stolen", "throw": "threw thrown", "wear": "wore worn", "write": "wrote written",
    }.items()
    for form in forms.split()
}
"""Past forms Snowball's stemmer leaves as they are ("bought" is not stemmed to "buy"), mapped to the verb,
so "I paid" meets "pay" and "it broke" meets "break". Not those of the generic verbs dropped as carrying
no topic (came, got, took): a phrase such as "taken from my account" would lose its verb and become
the bare "account"."""
