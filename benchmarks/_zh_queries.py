"""A fixed English -> Chinese table for benchmark queries, kept apart from the product lexicon.

It is written by hand from the attribute values of the sample fashion catalog so that the
Chinese benchmark measures the product's lexicon and models, not a copy of them. Queries are
rebuilt from their structured attributes in natural Chinese word order
(gender, season, usage, colour, type).
"""

from __future__ import annotations

ZH: dict[str, dict[str, str]] = {
    "gender": {"Men": "男士", "Women": "女士", "Boys": "男童", "Girls": "女童", "Unisex": "男女通用"},
    "season": {"Fall": "秋季", "Spring": "春季", "Summer": "夏季", "Winter": "冬季"},
    "usage": {"Casual": "休闲", "Ethnic": "民族风", "Formal": "正装", "Sports": "运动"},
    "base_colour": {
        "Beige": "米色", "Black": "黑色", "Blue": "蓝色", "Brown": "棕色", "Charcoal": "炭灰色",
        "Copper": "铜色", "Cream": "奶油色", "Green": "绿色", "Grey": "灰色", "Maroon": "酒红色",
        "Mustard": "芥末黄", "Navy Blue": "藏青色", "Olive": "橄榄绿", "Orange": "橙色", "Peach": "桃色",
        "Pink": "粉色", "Purple": "紫色", "Red": "红色", "Silver": "银色", "White": "白色",
    },
    "sub_category": {
        "Bags": "包", "Bottomwear": "下装", "Eyewear": "眼镜", "Headwear": "帽子", "Innerwear": "内衣",
        "Shoes": "鞋", "Topwear": "上衣",
    },
    "article_type": {
        "Backpacks": "双肩包", "Belts": "腰带", "Briefs": "内裤", "Capris": "七分裤", "Caps": "帽子",
        "Casual Shoes": "休闲鞋", "Clutches": "手拿包", "Cufflinks": "袖扣", "Deodorant": "止汗露",
        "Dresses": "连衣裙", "Duffel Bag": "旅行包", "Dupatta": "披肩纱巾", "Flats": "平底鞋",
        "Flip Flops": "人字拖", "Formal Shoes": "正装鞋", "Gloves": "手套", "Handbags": "手提包",
        "Heels": "高跟鞋", "Innerwear Vests": "背心", "Jackets": "夹克", "Kurtas": "库尔塔长衫",
        "Laptop Bag": "电脑包", "Mufflers": "围脖", "Perfume and Body Mist": "香水", "Sandals": "凉鞋",
        "Scarves": "围巾", "Shirts": "衬衫", "Shorts": "短裤", "Skirts": "半身裙", "Socks": "袜子",
        "Sports Shoes": "运动鞋", "Stockings": "丝袜", "Sunglasses": "太阳镜", "Sweaters": "毛衣",
        "Sweatshirts": "卫衣", "Ties": "领带", "Tops": "上衣", "Track Pants": "运动裤", "Trousers": "长裤",
        "Tshirts": "T恤", "Tunics": "束腰长上衣", "Wallets": "钱包", "Watches": "手表",
    },
}
ORDER = ("gender", "season", "usage", "base_colour", "sub_category", "article_type")


def to_chinese(attributes: dict[str, str]) -> str | None:
    """The Chinese query for a dev query's attributes, or None if a value is not in the table."""
    parts = []
    for field in ORDER:
        if field in attributes:
            zh = ZH.get(field, {}).get(attributes[field])
            if zh is None:
                return None
            parts.append(zh)
    return "".join(parts)
