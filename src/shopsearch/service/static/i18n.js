// UI text in English and Chinese; window.I18N.t(key, vars), .apply(root), .term(value).
// Catalogue values (facet values, attributes) are shown in Chinese through the bilingual lexicon
// read backwards (GET /ui/terms/zh, fetched once when the Chinese page is first used).
(function () {
  "use strict";
  const TEXT = {
    en: {
      brand: "shopsearch", title: "Product search", skip: "Skip to results",
      placeholder: "Search products, or drop a photo here", search: "Search", searchLabel: "Search products",
      suggestionsLabel: "Suggestions", uploadImage: "Search by photo", removeImage: "Remove photo",
      record: "Search by voice", stopRecording: "Stop recording", voiceLanguage: "Spoken language", langAuto: "Auto",
      dropHere: "Drop the photo to search", prev: "Previous", next: "Next", pagesLabel: "Pages",
      moreLikeThis: "More like this", moreLikeNamed: "More like {title}", likeNamed: "Like {title}",
      dislikeNamed: "Dislike {title}", openNamed: "{title}: details",
      pageInfo: "Page {page} of {pages}", results: "{total} products", resultsFor: "{total} products for \u201c{text}\u201d",
      noResults: "No products match all of this.", tryRemoving: "Try without:", removeAllFilters: "Remove all filters",
      weak: "No good match for \u201c{text}\u201d: no product name or attribute contains these words.",
      weakPhoto: "No good match.", showLoose: "Show the closest products anyway", trySuggestion: "Try:",
      searching: "Searching…", recording: "Recording… press the microphone again to stop",
      transcribing: "Listening to your recording…", heard: "Heard ({lang}): “{text}”",
      similarTo: "Similar to: {title}", photo: "Your photo", startOver: "Start over",
      showingFor: "Showing results for \u201c{text}\u201d",
      likeProduct: "Looks like product {id}", hiddenProducts: "{count} hidden", thanks: "Thanks for the feedback",
      filters: "Filters", filtersCount: "({n})", closeFilters: "Close filters", showResults: "Show {total} products",
      remove: "Remove {label}", makeFilter: "Only these", makeFilterNamed: "Only show {label}",
      kindFilter: "Filter", kindPref: "Prefer", kindPhoto: "Photo", kindSimilar: "Similar", kindHidden: "Hidden",
      understandingOff: "Query understanding off", chipsLabel: "What shapes these results",
      sortLabel: "Sort", sort_relevance: "Best match", sort_price_asc: "Price: low to high",
      sort_price_desc: "Price: high to low", sort_newest: "Newest", showAll: "Show all ({n})", showFewer: "Show fewer",
      close: "Close", description: "Description", price: "Price", noPrice: "No price listed",
      note_noPrices: "\u201cCheaper\u201d needs prices, and these products have none, so the results are unchanged.",
      note_noOrdinal: "There is no result with that number to compare with.",
      note_priceChip: "These products have no prices, so \u201c{label}\u201d cannot change them.",
      not: "not {value}", atMost: "at most {value}", atLeast: "at least {value}",
      facet_gender: "Gender", facet_base_colour: "Colour", facet_article_type: "Type",
      facet_master_category: "Category", facet_sub_category: "Subcategory", facet_season: "Season",
      facet_usage: "Usage", facet_brand: "Brand", facet_price: "Price", facet_category: "Category", facet_year: "Year",
      err_network: "Cannot reach the search service. Check your connection and try again.",
      err_413: "That file is too large. Please choose a smaller one.",
      err_image: "We could not read that picture, so it was removed. Please use a JPEG, PNG or WebP photo.",
      err_audio: "We could not understand the recording. Please try again, a little closer to the microphone.",
      err_voice_off: "Voice search is not available on this server.",
      err_mic: "The microphone is not available: {reason}",
      err_query: "Please type something, add a photo, or record your voice.",
      err_generic: "Something went wrong ({status}). Please try again.",
      err_notfound: "That product no longer exists.",
    },
    zh: {
      brand: "shopsearch 商品搜索", title: "商品搜索", skip: "跳到搜索结果",
      placeholder: "搜索商品，或把照片拖到这里", search: "搜索", searchLabel: "搜索商品",
      suggestionsLabel: "搜索建议", uploadImage: "以图搜物", removeImage: "移除照片",
      record: "语音搜索", stopRecording: "停止录音", voiceLanguage: "说话语言", langAuto: "自动",
      dropHere: "松开即可用照片搜索", prev: "上一页", next: "下一页", pagesLabel: "翻页",
      moreLikeThis: "找相似", moreLikeNamed: "找与{title}相似的商品", likeNamed: "喜欢{title}",
      dislikeNamed: "不喜欢{title}", openNamed: "{title}：详情",
      pageInfo: "第 {page} 页，共 {pages} 页", results: "共 {total} 件商品", resultsFor: "“{text}”共 {total} 件商品",
      noResults: "没有同时满足这些条件的商品。", tryRemoving: "试试去掉：", removeAllFilters: "清除全部筛选",
      weak: "没有与“{text}”匹配的商品：商品名称和属性里都没有这些词。",
      weakPhoto: "没有匹配的商品。", showLoose: "仍然显示最接近的商品", trySuggestion: "试试：",
      searching: "正在搜索…", recording: "正在录音… 再次点击麦克风结束",
      transcribing: "正在识别语音…", heard: "听到（{lang}）：“{text}”",
      similarTo: "与此相似：{title}", photo: "您的照片", startOver: "重新开始",
      showingFor: "以下是\u201c{text}\u201d的结果",
      likeProduct: "类似商品 {id}", hiddenProducts: "已隐藏 {count} 件", thanks: "感谢您的反馈",
      filters: "筛选", filtersCount: "（{n}）", closeFilters: "关闭筛选", showResults: "查看 {total} 件商品",
      remove: "移除 {label}", makeFilter: "只看这些", makeFilterNamed: "只看 {label}",
      kindFilter: "筛选", kindPref: "偏好", kindPhoto: "照片", kindSimilar: "相似", kindHidden: "已隐藏",
      understandingOff: "已关闭查询理解", chipsLabel: "影响这些结果的条件",
      sortLabel: "排序", sort_relevance: "最相关", sort_price_asc: "价格从低到高",
      sort_price_desc: "价格从高到低", sort_newest: "最新", showAll: "显示全部（{n}）", showFewer: "收起",
      close: "关闭", description: "描述", price: "价格", noPrice: "未标价",
      note_noPrices: "“便宜一点”需要价格，而这些商品没有标价，所以结果没有变化。",
      note_noOrdinal: "没有这个序号的结果可以比较。",
      note_priceChip: "这些商品没有标价，“{label}”不会改变结果。",
      not: "不要{value}", atMost: "不超过 {value}", atLeast: "不低于 {value}",
      facet_gender: "性别", facet_base_colour: "颜色", facet_article_type: "品类",
      facet_master_category: "大类", facet_sub_category: "子类", facet_season: "季节",
      facet_usage: "用途", facet_brand: "品牌", facet_price: "价格", facet_category: "类目", facet_year: "年份",
      err_network: "无法连接搜索服务，请检查网络后重试。",
      err_413: "文件太大了，请换一个小一点的文件。",
      err_image: "无法识别这张图片，已将其移除。请使用 JPEG、PNG 或 WebP 格式的照片。",
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
  let terms = null; // English catalogue term (lower case) -> Chinese
  let loading = null;

  function t(key, vars) {
    let s = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }
  function has(key) { return key in TEXT.en; }
  // A catalogue value in the page's language: the lexicon's Chinese for the whole value, else
  // for each of its words ("Navy Blue" is one term, "Casual Shoes" another), else as it is.
  function term(value) {
    const s = String(value);
    if (lang !== "zh" || !terms) return s;
    const whole = terms[s.toLowerCase()];
    if (whole) return whole;
    const words = s.split(/\s+/);
    const parts = words.map((w) => terms[w.toLowerCase()]);
    return parts.every(Boolean) ? parts.join("") : s;
  }
  function loadTerms() {
    if (terms || lang !== "zh") return Promise.resolve();
    if (!loading) {
      loading = fetch("/ui/terms/zh").then((r) => (r.ok ? r.json() : {})).then((d) => { terms = d; })
        .catch(() => { terms = {}; });
    }
    return loading;
  }
  function apply(root) {
    root = root || document;
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    root.querySelectorAll("[data-i18n-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nLabel)); });
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("brand");
  }
  function setLang(value) { lang = value; localStorage.setItem("shopsearch.lang", value); apply(); return loadTerms(); }
  window.I18N = { t, has, term, apply, setLang, loadTerms, get lang() { return lang; } };
})();
