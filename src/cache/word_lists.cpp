#include "cache/word_lists.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <unordered_set>

namespace kuai::cache {
namespace {

using Set = std::unordered_set<std::string_view>;
using Map = std::unordered_map<std::string_view, std::string_view>;

const Set& en_stopwords() {
  static const Set s{
      "a", "an", "the", "is", "are", "am", "be", "been", "being", "do", "does", "doing", "done", "i", "me",
      "my", "mine", "myself", "you", "your", "yours", "yourself", "we", "us", "our", "it", "its", "they",
      "them", "their", "this", "that", "these", "those", "there", "here", "of", "to", "in", "on", "at", "by",
      "for", "with", "from", "about", "into", "as", "and", "or", "but", "if", "then", "so", "too", "very",
      "just", "really", "quite", "also", "please", "kindly", "pls", "plz", "thx", "can", "could", "would", "may", "might",
      "shall", "let", "lets", "tell", "explain", "describe", "define", "give", "show", "know", "want",
      "need", "like", "help", "thanks", "thank", "hi", "hello", "hey", "ok", "okay", "some", "any", "much",
      "many", "what", "how", "whats", "hows", "way", "ways", "something", "anything", "thing", "things",
      "say", "mean", "meaning", "means", "exactly", "actually", "basically", "simply", "briefly", "detail",
      "details", "detailed", "info", "information", "regarding", "possible", "possibly", "someone",
      "anyone", "somebody", "anybody", "im", "ive", "id", "youre", "have", "has", "having", "get", "go", "going", "able", "should",
      "must", "ought", "one's", "s", "t", "re", "ve", "ll", "d", "m", "quick", "quickly", "short", "tips",
      "tip", "guide", "best", "good", "great", "nice", "which", "definition", "out", "up", "certain",
      "sure", "question", "answer", "idea", "overview", "summary", "kind", "type", "sort", "step",
      "steps", "example", "examples", "again", "dear", "sir", "assistant", "chatgpt", "located", "location"};
  return s;
}

const Set& en_starters() {
  static const Set s{
      "tell", "explain", "give", "write", "list", "show", "translate", "summarize", "summarise", "describe",
      "define", "compare", "recommend", "suggest", "help", "find", "calculate", "convert", "create", "make",
      "generate", "name", "why", "when", "where", "who", "whom", "whose", "which", "should", "please",
      "could", "would", "can", "is", "are", "do", "does", "did", "was", "were", "will", "what", "how",
      "any", "my", "the", "a", "in", "on", "for", "if", "best", "good", "top", "fix", "get", "set", "use",
      "check", "provide", "plan", "draft", "send", "read", "build", "install", "learn", "cook", "buy",
      "book", "reset", "change", "update", "delete", "remove", "add", "open", "close", "turn", "stop",
      "start", "run", "play", "go", "let", "need", "want", "looking", "hi", "hello", "hey", "thanks",
      "difference", "differences", "rewrite", "correct", "proofread", "edit", "format", "sort", "count",
      "solve", "simplify", "recipe", "meaning", "definition", "steps", "ways", "tips", "healthy", "easy",
      "simple", "quick", "cheap", "cheapest", "fastest", "cost", "price", "weather", "time", "date"};
  return s;
}

const Set& en_negations() {
  static const Set s{"not", "no", "never", "none", "nobody", "nothing", "nowhere", "neither", "nor", "without",
                     "cannot", "non", "nope"};
  return s;
}

const Set& en_negation_contractions() {
  static const Set s{"dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "cant", "wont",
                     "shouldnt", "wouldnt", "couldnt", "havent", "hasnt", "hadnt", "aint", "mustnt", "neednt"};
  return s;
}

const Map& en_numbers() {
  static const Map m{
      {"zero", "0"}, {"one", "1"}, {"two", "2"}, {"three", "3"}, {"four", "4"}, {"five", "5"}, {"six", "6"},
      {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"}, {"eleven", "11"}, {"twelve", "12"},
      {"thirteen", "13"}, {"fourteen", "14"}, {"fifteen", "15"}, {"sixteen", "16"}, {"seventeen", "17"},
      {"eighteen", "18"}, {"nineteen", "19"}, {"twenty", "20"}, {"thirty", "30"}, {"forty", "40"},
      {"fifty", "50"}, {"sixty", "60"}, {"seventy", "70"}, {"eighty", "80"}, {"ninety", "90"},
      {"hundred", "100"}, {"thousand", "1000"}, {"million", "1000000"}, {"billion", "1000000000"},
      {"dozen", "12"}, {"half", "0.5"}, {"quarter", "0.25"}, {"first", "1"}, {"third", "3"},
      {"fourth", "4"}, {"fifth", "5"}, {"sixth", "6"}, {"seventh", "7"}, {"eighth", "8"}, {"ninth", "9"},
      {"tenth", "10"}, {"twice", "2"}, {"double", "2"}, {"triple", "3"}, {"single", "1"}, {"pair", "2"},
      {"couple", "2"}, {"both", "2"}};
  return m;
}

const Map& en_temporal() {
  static const Map m{
      {"today", "@today"}, {"tomorrow", "@tomorrow"}, {"yesterday", "@yesterday"}, {"tonight", "@tonight"},
      {"monday", "@mon"}, {"tuesday", "@tue"}, {"wednesday", "@wed"}, {"thursday", "@thu"},
      {"friday", "@fri"}, {"saturday", "@sat"}, {"sunday", "@sun"}, {"weekend", "@weekend"},
      {"january", "@jan"}, {"february", "@feb"}, {"april", "@apr"}, {"june", "@jun"}, {"july", "@jul"},
      {"august", "@aug"}, {"september", "@sep"}, {"october", "@oct"}, {"november", "@nov"},
      {"december", "@dec"}, {"morning", "@morning"}, {"afternoon", "@afternoon"}, {"evening", "@evening"},
      {"noon", "@noon"}, {"midnight", "@midnight"}, {"spring", "@spring"}, {"summer", "@summer"},
      {"autumn", "@autumn"}, {"fall", "@autumn"}, {"winter", "@winter"}};
  return m;
}

const Map& en_synonyms() {
  static const Map m{
      {"purchase", "buy"}, {"repair", "fix"}, {"large", "big"}, {"huge", "big"}, {"little", "small"},
      {"tiny", "small"}, {"automobile", "car"}, {"photo", "picture"}, {"image", "picture"},
      {"pic", "picture"}, {"film", "movie"}, {"kid", "child"}, {"children", "child"}, {"begin", "start"},
      {"quick", "fast"}, {"rapid", "fast"}, {"remove", "delete"}, {"erase", "delete"},
      {"inexpensive", "cheap"}, {"modify", "change"}, {"alter", "change"}, {"create", "make"},
      {"build", "make"}, {"application", "app"}, {"smartphone", "phone"}, {"cellphone", "phone"},
      {"telephone", "phone"}, {"physician", "doctor"}, {"ill", "sick"}, {"difficult", "hard"},
      {"price", "cost"}, {"pricing", "cost"}, {"persona", "person"}, {"people", "person"},
      {"individual", "person"}, {"cellular", "phone"}, {"vehicle", "car"}, {"assist", "help"},
      {"locate", "find"}, {"obtain", "get"}, {"commence", "start"}, {"sofa", "couch"},
      {"handbag", "bag"}, {"mum", "mom"}, {"mother", "mom"}, {"father", "dad"}, {"colour", "color"},
      {"favourite", "favorite"}, {"centre", "center"}, {"organise", "organize"}, {"analyse", "analyze"},
      {"summarise", "summarize"}, {"optimise", "optimize"}, {"travell", "travel"}, {"pc", "computer"},
      {"laptop", "computer"}, {"recipe", "cook"}, {"prepare", "cook"}, {"utilize", "use"},
      {"utilise", "use"}, {"usage", "use"}, {"passcode", "password"},
      {"login", "log"}, {"signin", "log"}, {"nation", "country"}};
  return m;
}

const Set& zh_stopwords() {
  static const Set s{
      "的", "了", "吗", "呢", "吧", "啊", "呀", "嘛", "哦", "么", "是", "在", "有", "我", "你", "您", "他",
      "她", "它", "我们", "你们", "他们", "咱们", "这", "那", "这个", "那个", "这些", "那些", "个", "和", "与",
      "及", "跟", "给", "把", "被", "让", "对", "从", "到", "也", "都", "就", "还", "又", "很", "太", "挺",
      "真", "请", "请问", "麻烦", "帮", "帮我", "帮忙", "告诉", "知道", "想", "想要", "要", "需要", "能",
      "能够", "可以", "会", "得", "地", "着", "过", "啦", "呗", "之", "其", "而", "并", "或", "或者", "还是",
      "嗯", "哈", "谢谢", "你好", "您好", "些", "下", "说", "说说", "讲", "讲讲", "介绍", "解释", "里", "中",
      "为", "用", "应该", "一下", "一些", "一点", "下吧", "简单", "详细", "具体", "到底", "究竟", "关于",
      "有关", "方法", "办法", "问题", "一般", "通常", "吗？", "呢？", "嘛？", "哪个", "好的", "怎么办",
      "步骤", "请教", "咨询", "问", "问一下", "是否", "能否", "可否", "上", "来", "去", "方式", "怎么", "什么",
      "怎么办", "哪个",
      // courtesy around a question (不好意思打扰一下，请问…): says nothing of what is asked
      "不好意思", "打扰", "抱歉", "问下"};
  return s;
}

const Map& zh_synonyms() {
  static const Map m{
      {"如何", "怎么"}, {"怎样", "怎么"}, {"怎么样", "怎么"}, {"咋", "怎么"}, {"啥", "什么"},
      {"为何", "为什么"}, {"为啥", "为什么"}, {"哪儿", "哪里"}, {"哪", "哪里"}, {"何时", "什么时候"},
      {"几", "多少"}, {"计算机", "电脑"}, {"智能手机", "手机"}, {"图片", "照片"}, {"相片", "照片"},
      {"影片", "电影"}, {"价钱", "价格"}, {"多少钱", "价格"}, {"实惠", "便宜"}, {"修复", "修理"},
      {"维修", "修理"}, {"删掉", "删除"}, {"购买", "买"}, {"小孩", "孩子"}, {"儿童", "孩子"},
      {"口令", "密码"}, {"笔记本电脑", "电脑"}, {"首府", "首都"}, {"大小", "尺寸"}, {"重置", "重设"}, {"修改", "更改"}, {"改变", "更改"}, {"哪些", "什么"}, {"学习", "学"},
      {"种植", "种"}, {"能吃", "吃"}, {"可以吃", "吃"}, {"制作", "做"}, {"做法", "做"}};
  return m;
}

}  // namespace

bool is_en_stopword(std::string_view w) { return en_stopwords().contains(w); }
bool is_en_negation(std::string_view w) { return en_negations().contains(w); }
bool is_en_negation_contraction(std::string_view w) { return en_negation_contractions().contains(w); }
bool is_en_common_starter(std::string_view w) { return en_starters().contains(w); }

std::string en_number_word(std::string_view w) {
  auto it = en_numbers().find(w);
  return it == en_numbers().end() ? std::string() : std::string(it->second);
}

std::string en_temporal_word(std::string_view w, bool capitalised_mid_sentence) {
  if (capitalised_mid_sentence && w == "may") return "@may";
  if (capitalised_mid_sentence && w == "march") return "@mar";
  auto it = en_temporal().find(w);
  if (it != en_temporal().end()) return std::string(it->second);
  // Plurals of weekdays and parts of the day say "every Monday", "in the evenings": the same day or
  // time ("open on Mondays" / "open on Monday"); months and seasons have no such plural.
  static const Set kPluralOf{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                             "weekend", "morning", "afternoon", "evening"};
  if (w.size() > 1 && w.ends_with('s') && kPluralOf.contains(w.substr(0, w.size() - 1)))
    return std::string(en_temporal().at(w.substr(0, w.size() - 1)));
  return {};
}

std::string en_tense_word(std::string_view w) {
  if (w == "was" || w == "were" || w == "did" || w == "had") return "#past";
  if (w == "will" || w == "shall") return "#future";
  return {};
}

std::string en_order_word(std::string_view w) {
  if (w == "before" || w == "prior" || w == "beforehand") return "@before";
  if (w == "after" || w == "afterwards" || w == "afterward") return "@after";
  return {};
}

std::string en_relative_period(std::string_view previous, std::string_view w) {
  static const Set kPeriods{"week", "weeks", "month", "months", "year", "years", "weekend", "semester", "season"};
  static const Map kWhich{{"next", "next"}, {"coming", "next"}, {"upcoming", "next"}, {"last", "last"},
                          {"previous", "last"}, {"past", "last"}, {"this", "this"}, {"current", "this"}};
  auto which = kWhich.find(previous);
  if (which == kWhich.end() || !kPeriods.contains(w)) return {};
  std::string period(w);
  if (period.ends_with('s') && period != "weeks" && period.size() > 4) period.pop_back();
  if (period == "weeks") period = "week";
  return "@" + std::string(which->second) + "_" + period;
}

std::string zh_order_word(const std::string& token, const std::string& previous, std::string& anchor) {
  static const Map kAlone{{"前", "@before"}, {"之前", "@before"}, {"以前", "@before"}, {"后", "@after"},
                          {"之后", "@after"}, {"以后", "@after"}};
  // Words ending in 前/后 that do not mean before/after something.
  static const Set kNotOrder{"提前", "然后", "最后", "先后", "前后", "目前", "当前", "眼前", "面前", "跟前", "往后",
                             "今后", "此后", "随后", "向前", "从前", "空前", "背后", "落后", "售后", "午后", "善后", "幕后"};
  if (auto it = kAlone.find(token); it != kAlone.end()) {
    anchor = previous;
    return std::string(it->second);
  }
  if (kNotOrder.contains(token)) return {};
  const std::string_view t(token);
  for (auto [suffix, tag] : {std::pair<std::string_view, std::string_view>{"前", "@before"}, {"后", "@after"}}) {
    if (t.size() > suffix.size() && t.ends_with(suffix)) {
      anchor = std::string(t.substr(0, t.size() - suffix.size()));
      for (std::string_view inner : {"之", "以"})
        if (anchor.ends_with(inner)) anchor.resize(anchor.size() - inner.size());
      return std::string(tag);
    }
  }
  return {};
}

std::string en_synonym(const std::string& stem) {
  auto it = en_synonyms().find(stem);
  return it == en_synonyms().end() ? stem : std::string(it->second);
}

int zh_digit(char32_t c) {
  switch (c) {
    case U'零': case U'〇': return 0;
    case U'一': return 1;
    case U'二': case U'两': return 2;
    case U'三': return 3;
    case U'四': return 4;
    case U'五': return 5;
    case U'六': return 6;
    case U'七': return 7;
    case U'八': return 8;
    case U'九': return 9;
    default: return -1;
  }
}

int64_t zh_unit(char32_t c) {
  switch (c) {
    case U'十': return 10;
    case U'百': return 100;
    case U'千': return 1000;
    case U'万': return 10000;
    case U'亿': return 100000000;
    default: return 0;
  }
}

bool is_zh_negation(char32_t c) {
  return c == U'不' || c == U'没' || c == U'沒' || c == U'别' || c == U'非' || c == U'无' || c == U'無' ||
         c == U'未' || c == U'莫' || c == U'勿' || c == U'否' || c == U'甭';
}

bool is_zh_measure(char32_t c) {
  static const std::u32string_view kMeasures = U"个本家种件只位条张篇首部下点些次台辆杯碗份句段双套把支间所座门封";
  return kMeasures.find(c) != std::u32string_view::npos;
}

bool is_zh_entity_suffix(char32_t c) {
  static const std::u32string_view kSuffixes = U"市省县国州岛山河湖江海学司行院团站场路街镇村寺宫馆";
  return kSuffixes.find(c) != std::u32string_view::npos;
}

bool is_zh_name(std::u32string_view w) {
  if (w.size() < 2 || !is_zh_entity_suffix(w.back())) return false;
  if (w.size() >= 3) return true;  // 北京市, 招商银行, 清华大学, 协和医院
  // Two characters: the suffix makes common nouns and verbs (银行, 公司, 医院, 小学, 旅行, 车站) more
  // often than names, except for countries, provinces and cities (中国, 杭州, 上海), and even then
  // not after a verb or a determiner (出国, 回国, 全国, 外国, 各省, 城市).
  static const std::u32string_view kPlaceSuffixes = U"国州省县岛海";
  static const std::u32string_view kNotNames = U"出入回全各外本祖爱异他我该城都超股门大临";
  if (kPlaceSuffixes.find(w[1]) == std::u32string_view::npos) return false;
  return kNotNames.find(w[0]) == std::u32string_view::npos;
}

const std::vector<std::u32string>& zh_masked_words() {
  static const std::vector<std::u32string> words{
      U"非常", U"无论", U"不过", U"不仅", U"不但", U"未来", U"别人", U"特别", U"区别", U"差别", U"分别",
      U"类别", U"级别", U"告别", U"别的", U"无线", U"是否", U"能否", U"可否", U"否则", U"不管", U"莫非",
      U"除非", U"不断", U"不少", U"毫无疑问", U"无数", U"没错", U"差不多", U"不然", U"要不", U"不客气",
      U"别墅", U"非洲", U"南非", U"无锡", U"无所谓", U"不停", U"并且", U"一下", U"一些", U"一起",
      U"一样", U"一直", U"一定", U"一般", U"一点", U"一切", U"万一", U"统一", U"唯一", U"一旦", U"一致",
      U"同一", U"一边", U"一方面", U"十分", U"万分", U"千万", U"一会", U"一番", U"一路", U"一向",
      U"一再", U"一并", U"三明治", U"乱七八糟", U"一模一样", U"不可思议", U"是非", U"无聊", U"一共",
      U"逐一", U"专一", U"万能", U"千克", U"百度", U"万达", U"一体", U"一带一路", U"不好意思"};
  return words;
}

const std::vector<std::pair<std::u32string, std::string>>& zh_temporal_words() {
  // Longer words first, so 星期天 is read before 星期 could be, and 本周 before 周.
  static const std::vector<std::pair<std::u32string, std::string>> words{
      {U"星期一", "@mon"}, {U"星期二", "@tue"}, {U"星期三", "@wed"}, {U"星期四", "@thu"}, {U"星期五", "@fri"},
      {U"星期六", "@sat"}, {U"星期天", "@sun"}, {U"星期日", "@sun"}, {U"上个月", "@last_month"},
      {U"下个月", "@next_month"}, {U"这个月", "@this_month"}, {U"今天", "@today"}, {U"明天", "@tomorrow"},
      {U"昨天", "@yesterday"}, {U"后天", "@day_after"}, {U"前天", "@day_before"}, {U"今晚", "@tonight"},
      {U"今年", "@this_year"}, {U"明年", "@next_year"}, {U"去年", "@last_year"}, {U"上午", "@morning"},
      {U"早上", "@morning"}, {U"下午", "@afternoon"}, {U"晚上", "@evening"}, {U"中午", "@noon"},
      {U"周末", "@weekend"}, {U"春天", "@spring"}, {U"夏天", "@summer"}, {U"秋天", "@autumn"},
      {U"冬天", "@winter"}, {U"上周", "@last_week"}, {U"下周", "@next_week"}, {U"本周", "@this_week"},
      {U"这周", "@this_week"}, {U"本月", "@this_month"}, {U"上月", "@last_month"}, {U"下月", "@next_month"},
      {U"现在", "@now"}, {U"目前", "@now"}, {U"周一", "@mon"}, {U"周二", "@tue"}, {U"周三", "@wed"},
      {U"周四", "@thu"}, {U"周五", "@fri"}, {U"周六", "@sat"}, {U"周日", "@sun"}, {U"周天", "@sun"}};
  return words;
}

std::string en_scope_word(std::string_view w) {
  static const Map m{
      {"all", "#all"}, {"every", "#all"}, {"entire", "#all"}, {"whole", "#all"}, {"everything", "#all"},
      {"each", "#each"}, {"single", "#one"},
      {"family", "#family"}, {"household", "#family"}, {"business", "#business"}, {"business's", "#business"},
      {"company", "#business"}, {"corporate", "#business"}, {"double", "#double"}, {"twin", "#double"},
      {"kid", "#child"}, {"kids", "#child"}, {"child", "#child"}, {"children", "#child"}, {"son", "#child"},
      {"daughter", "#child"}, {"spouse", "#spouse"}, {"wife", "#spouse"}, {"husband", "#spouse"},
      {"partner", "#spouse"}, {"parent", "#parent"}, {"parents", "#parent"}, {"mom", "#parent"},
      {"dad", "#parent"}, {"mother", "#parent"}, {"father", "#parent"}, {"employee", "#employee"},
      {"employees", "#employee"}, {"student", "#student"}, {"students", "#student"}};
  auto it = m.find(w);
  return it == m.end() ? std::string() : std::string(it->second);
}

const std::vector<std::pair<std::u32string, std::string>>& zh_scope_words() {
  static const std::vector<std::pair<std::u32string, std::string>> words{
      {U"所有", "#all"}, {U"全部", "#all"}, {U"整个", "#all"}, {U"一次性", "#all"}, {U"每个", "#each"},
      {U"每一", "#each"}, {U"单个", "#one"}, {U"单人", "#one"}, {U"双人", "#double"}, {U"单间", "#one"}, {U"家庭", "#family"},
      {U"全家", "#family"}, {U"公司", "#business"}, {U"企业", "#business"}, {U"单位", "#business"},
      {U"孩子", "#child"}, {U"儿子", "#child"}, {U"女儿", "#child"}, {U"未成年", "#child"}, {U"宝宝", "#child"},
      {U"小孩", "#child"}, {U"儿童", "#child"}, {U"婴儿", "#child"}, {U"小朋友", "#child"},
      {U"爱人", "#spouse"}, {U"老公", "#spouse"}, {U"老婆", "#spouse"}, {U"配偶", "#spouse"},
      {U"父母", "#parent"}, {U"爸妈", "#parent"}, {U"员工", "#employee"}, {U"学生", "#student"}};
  return words;
}

bool is_generic_word(std::string_view w) {
  static const Set s{
      "way", "ways", "method", "methods", "step", "steps", "process", "procedure", "guide", "best", "good",
      "thing", "things", "tip", "tips", "help", "info", "information", "detail", "details", "question",
      "option", "options", "typical", "normal", "usual", "usually", "possible", "exactly", "actually", "really",
      "kindly", "please", "thanks", "thank", "example", "need", "want", "know", "tell", "show", "explain",
      "find", "get", "make", "do", "go", "use", "quick", "quickly", "simple", "easy", "easiest", "proper",
      "properly", "correct", "correctly", "right", "general", "generally", "enough", "time", "long", "much",
      "many", "often", "okay", "ok",
      // Asking for a thing, as 申请 / 办理 below: "request a refund", "apply for a visa" ask for it.
      "request", "ask", "apply",
      // Courtesy around a question, and the framing of a comparison ("the difference between A and
      // B" / "A vs B").
      "sorry", "bother", "excuse", "pardon", "appreciate", "grateful", "between", "vs", "versus", "compare",
      "comparison",
      "方法", "办法", "做法", "流程", "步骤", "事项", "攻略", "技巧", "怎么办", "处理", "操作", "问题", "情况",
      "一般", "具体", "大概", "注意", "哪些", "有用", "需要", "准备", "办理", "申请", "规定", "要求", "条件", "够",
      // What kind of answer is asked for (how long, when, where, what difference), which the other
      // query may ask with other words: 多久 / 几天 / 多长时间, "when" / "how often".
      "when", "where", "who", "whom", "why", "difference", "differences", "differ", "different", "happen",
      "happens", "fastest", "best", "cheapest", "lowest", "process", "procedure", "anyone", "somebody",
      "多久", "几天", "时间", "什么时候", "时候", "多少", "价格", "哪里", "好", "弄", "整", "该", "办", "区别",
      "差别", "不同", "影响", "会", "怎样", "最好", "一下"};
  return s.contains(w);
}

std::u32string zh_polar_partners(char32_t c) {
  std::u32string out;
  for (char32_t d : std::u32string_view(U"升降贬增减加除高低上下入出进开关多少大小长短前后买卖借还存取收付主副单双正负涨跌冷热快慢早晚新旧删充退优缺好坏男女胖瘦落赢输胜"))
    if (zh_polar_pair(c, d)) out.push_back(d);
  return out;
}

bool zh_polar_pair(char32_t a, char32_t b) {
  static const std::u32string kPairs[] = {U"升降", U"升贬", U"增减", U"增降", U"加减", U"加除", U"加降", U"高低",
                                          U"上下", U"入出", U"进出", U"开关", U"多少", U"大小", U"长短", U"前后",
                                          U"买卖", U"借还", U"存取", U"收付", U"主副", U"单双", U"正负", U"涨跌",
                                          U"冷热", U"快慢", U"早晚", U"新旧", U"增删", U"充退",
                                          U"优缺", U"好坏", U"男女", U"胖瘦", U"涨落", U"赢输", U"胜负"};
  for (const auto& p : kPairs) {
    if (p.size() == 2 && ((p[0] == a && p[1] == b) || (p[0] == b && p[1] == a))) return true;
  }
  return false;
}

Unit en_unit(std::string_view w) {
  static const std::unordered_map<std::string_view, Unit> m{
      {"second", {1.0 / 60, "min"}}, {"seconds", {1.0 / 60, "min"}}, {"sec", {1.0 / 60, "min"}}, {"secs", {1.0 / 60, "min"}},
      {"minute", {1, "min"}}, {"minutes", {1, "min"}}, {"min", {1, "min"}}, {"mins", {1, "min"}},
      {"hour", {60, "min"}}, {"hours", {60, "min"}}, {"hr", {60, "min"}}, {"hrs", {60, "min"}}, {"h", {60, "min"}},
      {"day", {1440, "min"}}, {"days", {1440, "min"}}, {"week", {10080, "min"}}, {"weeks", {10080, "min"}},
      {"month", {43200, "min"}}, {"months", {43200, "min"}}, {"year", {525600, "min"}}, {"years", {525600, "min"}},
      {"g", {1, "g"}}, {"gram", {1, "g"}}, {"grams", {1, "g"}}, {"kg", {1000, "g"}}, {"kilo", {1000, "g"}},
      {"kilos", {1000, "g"}}, {"kilogram", {1000, "g"}}, {"kilograms", {1000, "g"}}, {"mg", {0.001, "g"}},
      {"lb", {453.6, "g"}}, {"lbs", {453.6, "g"}}, {"pound", {453.6, "g"}}, {"pounds", {453.6, "g"}},
      {"oz", {28.35, "g"}}, {"ounce", {28.35, "g"}}, {"ounces", {28.35, "g"}},
      {"ml", {1, "ml"}}, {"l", {1000, "ml"}}, {"liter", {1000, "ml"}}, {"liters", {1000, "ml"}},
      {"litre", {1000, "ml"}}, {"litres", {1000, "ml"}}, {"cup", {240, "ml"}}, {"cups", {240, "ml"}},
      {"tbsp", {15, "ml"}}, {"tablespoon", {15, "ml"}}, {"tablespoons", {15, "ml"}}, {"tsp", {5, "ml"}},
      {"teaspoon", {5, "ml"}}, {"teaspoons", {5, "ml"}}, {"km", {1000, "m"}}, {"m", {1, "m"}},
      {"meter", {1, "m"}}, {"meters", {1, "m"}}, {"metre", {1, "m"}}, {"metres", {1, "m"}}, {"cm", {0.01, "m"}},
      {"mile", {1609, "m"}}, {"miles", {1609, "m"}}};
  auto it = m.find(w);
  return it == m.end() ? Unit{} : it->second;
}

Unit en_temperature_unit(std::string_view w) {
  if (w == "c" || w == "celsius" || w == "centigrade") return {1, "c"};
  if (w == "f" || w == "fahrenheit") return {5.0 / 9.0, "c", -160.0 / 9.0};
  return {};
}

Unit zh_unit_prefix(std::u32string_view s, size_t& length) {
  static const std::pair<std::u32string_view, Unit> kUnits[] = {
      {U"分钟", {1, "min"}}, {U"小时", {60, "min"}}, {U"钟头", {60, "min"}}, {U"星期", {10080, "min"}},
      {U"礼拜", {10080, "min"}}, {U"个月", {43200, "min"}}, {U"千克", {1000, "g"}}, {U"公斤", {1000, "g"}},
      {U"毫升", {1, "ml"}}, {U"公里", {1000, "m"}}, {U"秒", {1.0 / 60, "min"}}, {U"天", {1440, "min"}},
      {U"周", {10080, "min"}}, {U"克", {1, "g"}}, {U"斤", {500, "g"}}, {U"升", {1000, "ml"}}, {U"米", {1, "m"}},
      {U"摄氏度", {1, "c"}}, {U"度", {1, "c"}}};
  size_t skip = !s.empty() && s[0] == U'个' ? 1 : 0;
  for (const auto& [w, u] : kUnits) {
    if (s.substr(skip).starts_with(w)) {
      length = skip + w.size();
      return u;
    }
  }
  length = 0;
  return {};
}

bool is_zh_stopword(std::string_view w) { return zh_stopwords().contains(w); }

std::string zh_standard_forms(std::string s) {
  static const std::pair<std::string_view, std::string_view> kForms[] = {
      {"为啥", "为什么"}, {"咋样", "怎么样"}, {"咋办", "怎么办"}, {"咋整", "怎么办"}, {"咋弄", "怎么办"},
      {"咋", "怎么"}, {"啥", "什么"}, {"多长时间", "多久"}, {"多少时间", "多久"}, {"多长的时间", "多久"}};
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) return s;
  for (const auto& [from, to] : kForms) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  }
  return s;
}

namespace {

bool ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// "X-free" → "without X".
std::string without_for_free(const std::string& s) {
  if (s.find("-free") == std::string::npos) return s;
  std::string out;
  size_t copied = 0;  // s[0, copied) is in out
  for (size_t p = s.find("-free"); p != std::string::npos; p = s.find("-free", p + 1)) {
    const size_t end = p + 5;
    if (p == 0 || !ascii_letter(s[p - 1]) || (end < s.size() && ascii_letter(s[end]))) continue;  // "-freedom"
    size_t b = p;
    while (b > copied && ascii_letter(s[b - 1])) --b;
    out.append(s, copied, b - copied);
    out += "without ";
    out.append(s, b, p - b);
    copied = end;
  }
  out.append(s, copied, std::string::npos);
  return out;
}

// An age, "N-year-old" / "N years old" (N in digits or a number word), → "N" (a number, not a
// duration of N years), and "N child" under 18: the scope 5岁小孩 has.
std::string ages(const std::string& s) {
  const auto digits = [](std::string_view t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string low = s;
  for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string out;
  size_t copied = 0;
  for (size_t p = low.find("old"); p != std::string::npos; p = low.find("old", p + 1)) {
    if (p + 3 < low.size() && ascii_letter(low[p + 3])) continue;
    // Back over "year" / "years" and one separator each side.
    size_t q = p;
    if (q == 0 || (low[q - 1] != '-' && low[q - 1] != ' ')) continue;
    --q;
    size_t y = q;
    if (y >= 1 && low[y - 1] == 's') --y;
    if (y < 4 || low.compare(y - 4, 4, "year") != 0) continue;
    q = y - 4;
    if (q == 0 || (low[q - 1] != '-' && low[q - 1] != ' ')) continue;
    --q;
    size_t b = q;
    while (b > copied && (ascii_letter(low[b - 1]) || (low[b - 1] >= '0' && low[b - 1] <= '9'))) --b;
    const std::string token = low.substr(b, q - b);
    const std::string n = digits(token) ? token : en_number_word(token);
    if (!digits(n)) continue;  // (en_number_word: "" or a fraction such as 0.5)
    out.append(s, copied, b - copied);
    out += n.size() <= 2 && std::stoi(n) < 18 ? n + " child" : n;
    copied = p + 3;
  }
  out.append(s, copied, std::string::npos);
  return out;
}

}  // namespace

std::string en_standard_forms(std::string s) { return ages(without_for_free(s)); }

std::string country_name(std::string_view word, std::string_view original) {
  // Per country: its English name, the demonym (singular and plural), the Chinese name. A language
  // that shares the demonym ("learn Chinese") reads as the country too: the two rarely part.
  static const std::unordered_map<std::string_view, std::string_view> m = [] {
    static constexpr std::string_view kCountries[][4] = {
        {"china", "chinese", "", "中国"},          {"japan", "japanese", "", "日本"},
        {"korea", "korean", "koreans", "韩国"},     {"france", "french", "", "法国"},
        {"germany", "german", "germans", "德国"},   {"italy", "italian", "italians", "意大利"},
        {"spain", "spanish", "", "西班牙"},         {"canada", "canadian", "canadians", "加拿大"},
        {"australia", "australian", "australians", "澳大利亚"}, {"india", "indian", "indians", "印度"},
        {"russia", "russian", "russians", "俄罗斯"}, {"brazil", "brazilian", "brazilians", "巴西"},
        {"mexico", "mexican", "mexicans", "墨西哥"}, {"thailand", "thai", "", "泰国"},
        {"vietnam", "vietnamese", "", "越南"},      {"singapore", "singaporean", "singaporeans", "新加坡"},
        {"malaysia", "malaysian", "malaysians", "马来西亚"}, {"indonesia", "indonesian", "indonesians", "印度尼西亚"},
        {"philippines", "filipino", "filipinos", "菲律宾"}, {"switzerland", "swiss", "", "瑞士"},
        {"netherlands", "dutch", "", "荷兰"},       {"sweden", "swedish", "swedes", "瑞典"},
        {"egypt", "egyptian", "egyptians", "埃及"}, {"greece", "greek", "greeks", "希腊"},
        {"portugal", "portuguese", "", "葡萄牙"},   {"ireland", "irish", "", "爱尔兰"},
        {"israel", "israeli", "israelis", "以色列"}, {"britain", "british", "", "英国"},
        {"america", "american", "americans", "美国"}};
    static constexpr std::pair<std::string_view, std::string_view> kShortNames[] = {
        {"usa", "america"}, {"uk", "britain"}, {"印尼", "indonesia"}, {"澳洲", "australia"}};
    std::unordered_map<std::string_view, std::string_view> out(std::begin(kShortNames), std::end(kShortNames));
    for (const auto& c : kCountries)
      for (std::string_view w : c)
        if (!w.empty()) out.emplace(w, c[0]);
    return out;
  }();
  if (original == "US" || original == "U.S.") return "america";
  if (word == "us") return "";  // the pronoun
  auto it = m.find(word);
  return it == m.end() ? std::string() : std::string(it->second);
}

std::string zh_synonym(const std::string& w) {
  auto it = zh_synonyms().find(w);
  return it == zh_synonyms().end() ? w : std::string(it->second);
}

}  // namespace kuai::cache
