"""Generated product articles that pad the FAQ to a realistic catalogue size (1,000 articles).

A shop's knowledge base is mostly questions about single products: sizes, materials, care,
colours, load, assembly, origin. These are generated from a fixed list of products and
templates, deterministically, in both languages, so the latency and build figures are measured
on an index of the size a business would have, with articles that compete with the FAQ's words.
"""

from __future__ import annotations

import random
from itertools import islice, product

from routing.bot import Article

__all__ = ["padding_articles"]

PRODUCTS = [
    ("Oslo sofa", "奥斯陆沙发"),
    ("Bergen armchair", "卑尔根扶手椅"),
    ("Kyoto bed frame", "京都床架"),
    ("Lisbon dining table", "里斯本餐桌"),
    ("Nara desk", "奈良书桌"),
    ("Riga wardrobe", "里加衣柜"),
    ("Porto bookshelf", "波尔图书架"),
    ("Tallinn sideboard", "塔林餐边柜"),
    ("Seville rug", "塞维利亚地毯"),
    ("Hanoi floor lamp", "河内落地灯"),
    ("Lima pendant light", "利马吊灯"),
    ("Quito table lamp", "基多台灯"),
    ("Oslo footstool", "奥斯陆脚凳"),
    ("Turin coffee table", "都灵茶几"),
    ("Ghent bedside table", "根特床头柜"),
    ("Malmo dining chair", "马尔默餐椅"),
    ("Cork bar stool", "科克吧台凳"),
    ("Sapporo futon", "札幌床垫"),
    ("Busan mattress", "釜山床垫"),
    ("Perth pillow", "珀斯枕头"),
    ("Nice duvet", "尼斯羽绒被"),
    ("Bruges curtain", "布鲁日窗帘"),
    ("Delft vase", "代尔夫特花瓶"),
    ("Verona mirror", "维罗纳镜子"),
    ("Aarhus shoe cabinet", "奥胡斯鞋柜"),
    ("Lyon TV stand", "里昂电视柜"),
    ("Split outdoor chair", "斯普利特户外椅"),
    ("Kobe storage box", "神户收纳箱"),
    ("Graz coat rack", "格拉茨衣帽架"),
    ("Cusco throw blanket", "库斯科盖毯"),
    ("Hobart cushion", "霍巴特靠垫"),
    ("Dakar planter", "达喀尔花盆"),
    ("Fez wall shelf", "非斯墙架"),
    ("Pune office chair", "浦那办公椅"),
    ("Basel standing desk", "巴塞尔升降桌"),
    ("Oulu bunk bed", "奥卢双层床"),
    ("Bonn crib", "波恩婴儿床"),
    ("Galway bench", "戈尔韦长凳"),
    ("Leeds console table", "利兹玄关桌"),
    ("Agra wall clock", "阿格拉挂钟"),
    ("Nantes tableware set", "南特餐具套装"),
    ("Izmir bath towel", "伊兹密尔浴巾"),
    ("Bilbao kitchen cart", "毕尔巴鄂厨房推车"),
    ("Faro laundry basket", "法鲁洗衣篮"),
    ("Kraków desk lamp", "克拉科夫书桌灯"),
    ("Salta hammock", "萨尔塔吊床"),
    ("Gdansk chest of drawers", "格但斯克斗柜"),
    ("Trento display cabinet", "特伦托展示柜"),
    ("Lucca loveseat", "卢卡双人沙发"),
    ("Accra side table", "阿克拉边桌"),
    ("Davos rocking chair", "达沃斯摇椅"),
    ("Siena bath mat", "锡耶纳浴室垫"),
    ("Hue ceiling fan light", "顺化风扇灯"),
    ("Zadar picture frame", "扎达尔相框"),
    ("Tromso heated blanket", "特罗姆瑟电热毯"),
    ("Oaxaca jute rug", "瓦哈卡黄麻地毯"),
    ("Pisa dressing table", "比萨梳妆台"),
    ("Arles garden table", "阿尔勒花园桌"),
    ("Ulm lounge chair", "乌尔姆休闲椅"),
    ("Kotor headboard", "科托尔床头板"),
    ("Rouen candle holder", "鲁昂烛台"),
    ("Aveiro wine rack", "阿威罗酒架"),
    ("Lund sofa bed", "隆德沙发床"),
    ("Cebu rattan chair", "宿务藤椅"),
    ("Tartu modular shelf", "塔尔图组合架"),
    ("Chester ottoman", "切斯特储物凳"),
    ("Obidos tray", "奥比多斯托盘"),
    ("Mysore incense stand", "迈索尔香座"),
    ("Assisi plant stand", "阿西西花架"),
    ("Matera cutting board", "马泰拉砧板"),
    ("Bled sauna stool", "布莱德桑拿凳"),
]

MATERIALS = [
    ("solid oak", "实心橡木"),
    ("walnut veneer", "胡桃木贴皮"),
    ("powder-coated steel", "喷涂钢材"),
    ("linen", "亚麻"),
    ("rattan", "藤编"),
    ("recycled plastic", "再生塑料"),
    ("ceramic", "陶瓷"),
    ("bamboo", "竹子"),
]
COLOURS = [
    ("sand, grey and forest green", "沙色、灰色和森林绿"),
    ("white and natural wood", "白色和原木色"),
    ("black, navy and rust", "黑色、藏青和铁锈红"),
    ("cream and olive", "米白和橄榄绿"),
]
COUNTRIES = [("Portugal", "葡萄牙"), ("Vietnam", "越南"), ("Poland", "波兰"), ("Zhejiang, China", "中国浙江")]

TEMPLATES = [
    (
        "{en} dimensions",
        "{zh}尺寸",
        ["What are the dimensions of the {en}?", "How big is the {en}?", "How wide is the {en}?"],
        ["{zh}尺寸是多少", "{zh}有多大", "{zh}多宽"],
        "The {en} measures {w} × {d} × {h} cm (width × depth × height) and weighs {kg} kg.",
        "{zh}尺寸为宽{w}×深{d}×高{h}厘米，重{kg}公斤。",
    ),
    (
        "{en} materials",
        "{zh}材质",
        ["What is the {en} made of?", "What material is the {en}?", "Is the {en} solid wood?"],
        ["{zh}是什么材质", "{zh}用的什么材料", "{zh}是实木的吗"],
        "The {en} is made of {material_en} with a water-based finish, free of formaldehyde.",
        "{zh}采用{material_zh}，水性漆面，不含甲醛。",
    ),
    (
        "{en} colours",
        "{zh}颜色",
        [
            "What colours does the {en} come in?",
            "Is the {en} available in other colours?",
            "Which colour options are there for the {en}?",
        ],
        ["{zh}有哪些颜色", "{zh}有别的颜色吗", "{zh}颜色可以选吗"],
        "The {en} comes in {colours_en}; colours can look slightly different on screen.",
        "{zh}有{colours_zh}可选，屏幕显示可能略有色差。",
    ),
    (
        "{en} load",
        "{zh}承重",
        [
            "How much weight can the {en} hold?",
            "What is the maximum load of the {en}?",
            "Is the {en} sturdy?",
        ],
        ["{zh}承重多少", "{zh}最多能承受多重", "{zh}结实吗"],
        "The {en} is tested to carry {load} kg evenly distributed.",
        "{zh}经测试可均匀承重{load}公斤。",
    ),
    (
        "{en} origin",
        "{zh}产地",
        ["Where is the {en} made?", "Which country is the {en} produced in?", "Who makes the {en}?"],
        ["{zh}是哪里生产的", "{zh}产地在哪", "{zh}是哪个国家做的"],
        "The {en} is made for us in {country_en} by a family workshop we have worked with for years.",
        "{zh}由我们合作多年的{country_zh}家庭工坊生产。",
    ),
    (
        "{en} assembly time",
        "{zh}组装时间",
        [
            "How long does the {en} take to put together?",
            "Is the {en} hard to assemble?",
            "What tools do I need for the {en}?",
        ],
        ["{zh}组装要多久", "{zh}好装吗", "{zh}组装需要什么工具"],
        "The {en} takes about {minutes} minutes for two people to assemble; an Allen key is included.",
        "{zh}两人组装约需{minutes}分钟，随附内六角扳手。",
    ),
    (
        "{en} care",
        "{zh}清洁保养",
        ["How do I clean the {en}?", "How should I look after the {en}?", "Can the {en} get wet?"],
        ["{zh}怎么清洁", "{zh}怎么保养", "{zh}能沾水吗"],
        "Wipe the {en} with a dry or slightly damp cloth; avoid solvents and keep it away from radiators.",
        "{zh}请用干布或微湿的布擦拭，避免使用溶剂，远离暖气。",
    ),
]


def padding_articles(count: int, seed: int = 15) -> list[Article]:
    """`count` generated product articles (alternately English and Chinese), the same for the same seed."""
    chance = random.Random(seed)
    articles: list[Article] = []
    pairs = islice(product(PRODUCTS, TEMPLATES), (count + 1) // 2)
    for number, ((name_en, name_zh), template) in enumerate(pairs):
        title_en, title_zh, questions_en, questions_zh, answer_en, answer_zh = template
        (material_en, material_zh), (colours_en, colours_zh), (country_en, country_zh) = (
            chance.choice(MATERIALS),
            chance.choice(COLOURS),
            chance.choice(COUNTRIES),
        )
        values = {
            "en": name_en,
            "zh": name_zh,
            "w": chance.randint(40, 240),
            "d": chance.randint(30, 100),
            "h": chance.randint(30, 200),
            "kg": chance.randint(2, 90),
            "load": chance.randint(20, 300),
            "minutes": chance.randint(10, 90),
            "material_en": material_en,
            "material_zh": material_zh,
            "colours_en": colours_en,
            "colours_zh": colours_zh,
            "country_en": country_en,
            "country_zh": country_zh,
        }
        for locale, title, questions, answer in (
            ("en", title_en, questions_en, answer_en),
            ("zh-CN", title_zh, questions_zh, answer_zh),
        ):
            articles.append(
                Article(
                    id=f"product-{number}-{locale}",
                    title=title.format(**values),
                    questions=tuple(question.format(**values) for question in questions),
                    answer=answer.format(**values),
                    locale=locale,
                    tags=("product",),
                )
            )
    return articles[:count]
