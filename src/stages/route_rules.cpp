#include "stages/route_rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

namespace kuai::stages::route {
namespace {

constexpr uint32_t kMatchLimit = 200000;     // backtracking steps per match attempt
constexpr size_t kMaxScanBytes = 8192;       // rules look at the start of the query only

struct CodeFree {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
using Code = std::unique_ptr<pcre2_code, CodeFree>;

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool is_word_byte(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// `hay` and `needle` are lowercase already.
bool contains_keyword(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return false;
  if (!is_ascii(needle)) return hay.find(needle) != std::string_view::npos;
  const bool word_start = is_word_byte(needle.front());
  const bool word_end = is_word_byte(needle.back());
  for (size_t pos = hay.find(needle); pos != std::string_view::npos; pos = hay.find(needle, pos + 1)) {
    bool left_ok = !word_start || pos == 0 || !is_word_byte(hay[pos - 1]);
    size_t end = pos + needle.size();
    bool right_ok = !word_end || end >= hay.size() || !is_word_byte(hay[end]);
    if (left_ok && right_ok) return true;
  }
  return false;
}

std::vector<std::string> string_list(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) {
    out.push_back(n.as<std::string>());
  } else if (n.IsSequence()) {
    for (const auto& item : n)
      if (item.IsScalar()) out.push_back(item.as<std::string>());
  }
  return out;
}

}  // namespace

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

struct RuleDecider::Impl {
  struct Compiled {
    IntentRule rule;
    std::vector<Code> codes;
  };
  std::vector<Compiled> rules;

  bool any_pattern_matches(const Compiled& c, std::string_view text) const {
    if (c.codes.empty()) return false;
    pcre2_match_context* mctx = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(mctx, kMatchLimit);
    bool hit = false;
    for (const auto& code : c.codes) {
      pcre2_match_data* md = pcre2_match_data_create_from_pattern(code.get(), nullptr);
      int rc = pcre2_match(code.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, md, mctx);
      pcre2_match_data_free(md);
      if (rc >= 0) {  // negative: no match, invalid UTF-8 or match limit: all count as "no match"
        hit = true;
        break;
      }
    }
    pcre2_match_context_free(mctx);
    return hit;
  }
};

RuleDecider::RuleDecider() : impl_(std::make_unique<Impl>()) {}
RuleDecider::~RuleDecider() = default;
RuleDecider::RuleDecider(RuleDecider&&) noexcept = default;
RuleDecider& RuleDecider::operator=(RuleDecider&&) noexcept = default;

size_t RuleDecider::size() const { return impl_->rules.size(); }

std::variant<RuleDecider, std::string> RuleDecider::build(std::vector<IntentRule> rules) {
  RuleDecider out;
  for (auto& rule : rules) {
    if (rule.intent.empty()) return std::string("a route rule has no intent name");
    Impl::Compiled c;
    for (auto& k : rule.keywords) k = ascii_lower(k);
    for (auto& k : rule.exclude) k = ascii_lower(k);
    for (const auto& p : rule.patterns) {
      int err = 0;
      PCRE2_SIZE offset = 0;
      pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_MATCH_INVALID_UTF,
                                       &err, &offset, nullptr);
      if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return "route rule '" + rule.intent + "': bad pattern '" + p + "' at offset " + std::to_string(offset) +
               ": " + reinterpret_cast<const char*>(msg);
      }
      c.codes.emplace_back(code);
    }
    c.rule = std::move(rule);
    out.impl_->rules.push_back(std::move(c));
  }
  return out;
}

std::optional<IntentGuess> RuleDecider::classify(std::string_view text) const {
  if (text.size() > kMaxScanBytes) text = text.substr(0, kMaxScanBytes);
  const std::string lower = ascii_lower(text);
  std::string best;
  double best_score = 0;
  int ties = 0;
  for (const auto& c : impl_->rules) {
    if (c.rule.max_chars > 0 && text.size() > c.rule.max_chars) continue;
    bool vetoed = std::any_of(c.rule.exclude.begin(), c.rule.exclude.end(),
                              [&](const std::string& k) { return contains_keyword(lower, k); });
    if (vetoed) continue;
    double score = 0;
    if (impl_->any_pattern_matches(c, text)) {
      score = 0.9;
    } else {
      int hits = 0;
      for (const auto& k : c.rule.keywords) hits += contains_keyword(lower, k) ? 1 : 0;
      score = hits == 0 ? 0 : hits == 1 ? 0.6 : 0.75;
    }
    if (score <= 0) continue;
    if (score > best_score) {
      best = c.rule.intent;
      best_score = score;
      ties = 0;
    } else if (score == best_score) {
      ++ties;
    }
  }
  if (best.empty()) return std::nullopt;
  // Two intents equally sure: keep the first (config order) but say it is a coin toss.
  if (ties > 0) best_score *= 0.5;
  return IntentGuess{best, best_score};
}

std::variant<std::vector<IntentRule>, std::string> RuleDecider::parse(const YAML::Node& node) {
  std::vector<IntentRule> out;
  if (!node || node.IsNull()) return out;
  if (!node.IsMap()) return std::string("stages.route.rules must be a map of intent → {keywords, patterns}");
  for (const auto& kv : node) {
    IntentRule r;
    r.intent = kv.first.as<std::string>();
    const YAML::Node& body = kv.second;
    if (!body.IsMap()) return "stages.route.rules." + r.intent + " must be a map";
    r.keywords = string_list(body["keywords"]);
    r.patterns = string_list(body["patterns"]);
    r.exclude = string_list(body["exclude"]);
    if (body["max_chars"]) {
      try {
        long v = body["max_chars"].as<long>();
        if (v < 0) return "stages.route.rules." + r.intent + ".max_chars must be ≥ 0";
        r.max_chars = static_cast<size_t>(v);
      } catch (const YAML::Exception&) {
        return "stages.route.rules." + r.intent + ".max_chars must be a number";
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<IntentRule> RuleDecider::default_rules() {
  std::vector<IntentRule> rules;
  // Greetings and small talk: only short messages ("hi, please refactor this module" is not one).
  rules.push_back({"greeting",
                   {"hello", "hi", "hey", "good morning", "good evening", "good afternoon", "how are you",
                    "nice to meet you", "thanks", "thank you", "你好", "您好", "早上好", "晚上好", "下午好", "嗨",
                    "在吗", "谢谢", "哈喽", "早安", "晚安", "最近怎么样"},
                   {R"(^\W*(hi|hello|hey|hiya|howdy|greetings|yo|good (morning|afternoon|evening|night))\b[\s\w]{0,20}[!.?\s]*$)",
                    R"(^\W*(你好|您好|嗨|哈喽|早上好|晚上好|下午好|早安|晚安|大家好)[啊呀呢吗！!。,，\s]*.{0,8}$)",
                    R"(^\W*(how are you|how's it going|what's up|how do you do)\b.{0,20}$)"},
                   {"translate", "翻译", "weather", "天气", "code", "write", "explain"},
                   60});
  rules.push_back({"weather",
                   {"weather", "forecast", "temperature outside", "raining", "will it rain", "snowing", "humidity",
                    "umbrella", "sunny", "天气", "气温", "下雨", "下雪", "预报", "温度", "刮风", "雾霾", "带伞",
                    "冷不冷", "热不热", "空气质量"},
                   {R"(\b(weather|forecast)\b)",
                    R"(\bwill it (rain|snow|be (hot|cold|sunny|windy))\b)",
                    R"(\b(how (hot|cold|warm)|what'?s the temperature)\b.{0,40}\b(today|tomorrow|tonight|outside|this week|in [a-z]+))",
                    R"((天气|气温|下雨|下雪|天气预报|几度|降温|升温|刮风|雾霾))"},
                   {"translate", "翻译", "climate change", "气候变化", "function", "code", "代码", "api"},
                   0});
  rules.push_back({"translation",
                   {"translate", "translation", "翻译", "译成", "译为", "怎么说", "用英语", "用中文", "用日语",
                    "in english", "in chinese", "in french", "in spanish", "in german", "in japanese"},
                   {R"(\btranslat(e|ion|ing)\b)",
                    R"(\bhow (do|would) (you|i) say\b)",
                    R"(\b(in|into) (english|chinese|mandarin|french|spanish|german|japanese|korean|italian|russian|portuguese)\b.{0,3}$)",
                    R"(\bwhat(?:'s| is| does)\b.{1,40}\b(mean|in) (english|chinese|french|spanish|german|japanese)\b)",
                    R"((翻译|译成|译为|翻成|用(英语|英文|中文|汉语|日语|法语|德语|韩语|西班牙语)(怎么说|说|表达|写))|(英文|英语|中文)(怎么说|是什么))"},
                   {"code", "program", "函数"},
                   0});
  rules.push_back({"extraction",
                   {"extract", "pull out", "list all the", "find all the", "提取", "抽取", "找出", "列出所有", "摘出",
                    "parse out", "key fields", "as json", "named entities"},
                   {R"(\b(extract|pull out|parse out|pick out)\b)",
                    R"(\b(list|find|get|give me) (all|every|each) (the )?(names?|dates?|emails?|e-mail addresses|phone numbers?|numbers|amounts|prices|addresses|urls?|links|entities|people|companies|organi[sz]ations|locations|keywords)\b)",
                    R"(\b(names?|dates?|emails?|phone numbers?|amounts?|addresses|entities)\b.{0,30}\b(from|in|mentioned in) (this|the following|the|that)\b)",
                    R"((提取|抽取|抽出|摘出)|(找出|列出|列举)(所有|全部|其中|文中|这段|下面|以下)?.{0,12}(人名|地名|日期|时间|金额|电话|邮箱|公司|机构|关键词|数字|名字))"},
                   {"write a function", "write code", "regex to", "script that", "写一个函数", "写代码"},
                   0});
  return rules;
}

}  // namespace kuai::stages::route
