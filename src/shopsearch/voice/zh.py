"""Traditional -> simplified Chinese for transcripts.

Whisper often writes Mandarin in traditional characters. OpenCC (``opencc`` on PyPI, shipped
with its dictionaries, no network) converts phrase by phrase; without it a small
character table covering common shopping words is used, so the output is still simplified
for the words a product search needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

logger = logging.getLogger(__name__)

# traditional -> simplified, the characters of colours, garments, materials and common words.
_TABLE_PAIRS = (
    "藍蓝 紅红 綠绿 黃黄 紫紫 灰灰 銀银 銅铜 橙橙 褐褐 棕棕 "
    "襯衬 褲裤 裙裙 鞋鞋 靴靴 襪袜 帶带 錶表 鐘钟 鏈链 環环 鍊链 戒戒 "
    "運运 動动 棉棉 絲丝 綢绸 麻麻 皮皮 羊羊 絨绒 織织 針针 線线 紗纱 "
    "長长 短短 寬宽 窄窄 輕轻 厚厚 薄薄 舊旧 新新 號号 碼码 尺尺 "
    "男男 女女 兒儿 童童 嬰婴 學学 會会 貨货 買买 賣卖 價价 錢钱 "
    "從从 來来 這这 個个 們们 為为 對对 時时 間间 說说 還还 過过 "
    "給给 樣样 點点 兩两 與与 麼么 嗎吗 門门 開开 關关 見见 聽听 "
    "問问 書书 車车 電电 話话 腦脑 機机 語语 愛爱 業业 東东 經经 "
    "後后 處处 氣气 發发 無无 實实 現现 種种 體体 頭头 頸颈 領领 "
    "釦扣 鈕钮 補补 裝装 製制 適适 條条 雙双 隻只 顏颜 色色 聲声 "
    "飾饰 鑽钻 璃璃 寶宝 鏡镜 傘伞 夾夹 錢钱 幣币 網网 紋纹 圖图 "
    "夠够 頂顶 張张 雜杂 專专 屬属 貼贴 邊边 圓圆 廣广 場场 歡欢 "
    "連连 進进 選选 遠远 達达 裡里 夾夹 韓韩 華华 國国 熱热 涼凉 暖暖 溫温 "
    "髮发 鬆松 緊紧 軟软 硬硬 亮亮 淺浅 深深 潮潮 純纯 質质 優优 級级 標标 "
)
_TABLE: dict[str, str] = {pair[0]: pair[1] for pair in _TABLE_PAIRS.split() if pair[0] != pair[1]}


@lru_cache(maxsize=1)
def _converter() -> Callable[[str], str]:
    try:
        import opencc
    except ImportError:
        logger.info("opencc not installed; using the built-in character table for simplified Chinese")
        trans = str.maketrans(_TABLE)
        return lambda text: text.translate(trans)
    return opencc.OpenCC("t2s").convert


def to_simplified(text: str) -> str:
    """``text`` with traditional Chinese characters replaced by simplified ones."""
    return _converter()(text)
