// UI text in English and Chinese; window.I18N.t(key, vars) and window.I18N.apply(root).
(function () {
  "use strict";
  const TEXT = {
    en: {
      brand: "shopsearch", placeholder: "Search products, or drop a photo here", search: "Search",
      uploadImage: "Search by photo", removeImage: "Remove photo", record: "Search by voice",
      stopRecording: "Stop recording", voiceLanguage: "Spoken language", langAuto: "Auto",
      dropHere: "Drop the photo to search", prev: "Previous", next: "Next",
      moreLikeThis: "More like this", like: "Like", dislike: "Dislike",
      pageInfo: "Page {page} of {pages}", results: "{total} products ({ms} ms)",
      noResults: "No products match. Try fewer filters or other words.",
      searching: "Searching…", recording: "Recording… click the microphone again to stop",
      transcribing: "Listening to your recording…", heard: "Heard ({lang}): “{text}”",
      similarTo: "Similar to: {title}", photo: "Photo", startOver: "Start over",
      showingFor: "Showing results for \u201c{text}\u201d",
      likeProduct: "Like product {id}", hiddenProducts: "{count} hidden", thanks: "Thanks for the feedback",
      filters: "Filters", remove: "Remove", understandingOff: "Query understanding off (click × to restore)",
      facet_gender: "Gender", facet_base_colour: "Colour", facet_article_type: "Type",
      facet_master_category: "Category", facet_sub_category: "Subcategory", facet_season: "Season",
      facet_usage: "Usage", facet_brand: "Brand", facet_price: "Price", facet_category: "Category",
      err_network: "Cannot reach the search service. Check your connection and try again.",
      err_413: "That file is too large. Please choose a smaller one.",
      err_image: "We could not read that picture. Please upload a JPEG, PNG or WebP photo.",
      err_audio: "We could not understand the recording. Please try again, a little closer to the microphone.",
      err_voice_off: "Voice search is not available on this server.",
      err_mic: "The microphone is not available: {reason}",
      err_query: "Please type something, add a photo, or record your voice.",
      err_generic: "Something went wrong ({status}). Please try again.",
      err_notfound: "That product no longer exists.",
    },
    zh: {
      brand: "shopsearch 商品搜索", placeholder: "搜索商品，或把照片拖到这里", search: "搜索",
      uploadImage: "以图搜物", removeImage: "移除照片", record: "语音搜索",
      stopRecording: "停止录音", voiceLanguage: "说话语言", langAuto: "自动",
      dropHere: "松开即可用照片搜索", prev: "上一页", next: "下一页",
      moreLikeThis: "找相似", like: "喜欢", dislike: "不喜欢",
      pageInfo: "第 {page} 页，共 {pages} 页", results: "共 {total} 件商品（{ms} 毫秒）",
      noResults: "没有找到匹配的商品。请减少筛选条件或换个说法。",
      searching: "正在搜索…", recording: "正在录音… 再次点击麦克风结束",
      transcribing: "正在识别语音…", heard: "听到（{lang}）：“{text}”",
      similarTo: "与此相似：{title}", photo: "照片", startOver: "重新开始",
      showingFor: "以下是\u201c{text}\u201d的结果",
      likeProduct: "类似商品 {id}", hiddenProducts: "已隐藏 {count} 件", thanks: "感谢您的反馈",
      filters: "筛选", remove: "移除", understandingOff: "已关闭查询理解（点 × 恢复）",
      facet_gender: "性别", facet_base_colour: "颜色", facet_article_type: "品类",
      facet_master_category: "大类", facet_sub_category: "子类", facet_season: "季节",
      facet_usage: "用途", facet_brand: "品牌", facet_price: "价格", facet_category: "类目",
      err_network: "无法连接搜索服务，请检查网络后重试。",
      err_413: "文件太大了，请换一个小一点的文件。",
      err_image: "无法识别这张图片，请上传 JPEG、PNG 或 WebP 格式的照片。",
      err_audio: "没有听清录音，请靠近麦克风再试一次。",
      err_voice_off: "此服务器未开启语音搜索。",
      err_mic: "无法使用麦克风：{reason}",
      err_query: "请输入文字、添加照片或录制语音。",
      err_generic: "出了点问题（{status}），请重试。",
      err_notfound: "该商品已不存在。",
    },
  };
  let lang = localStorage.getItem("shopsearch.lang") ||
    ((navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en");

  function t(key, vars) {
    let s = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }
  function has(key) { return key in TEXT.en; }
  function apply(root) {
    root = root || document;
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  }
  function setLang(value) { lang = value; localStorage.setItem("shopsearch.lang", value); apply(); }
  window.I18N = { t, has, apply, setLang, get lang() { return lang; } };
})();
