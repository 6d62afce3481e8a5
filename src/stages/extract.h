// Stage `extract`: small-model pre-extraction. When the documents of a request — a `documents` field
// in the body (strings, or objects with "text"/"content" and an optional "title"), and the document
// part of a long last user message (split_question in extract_chunk.h) — reach stages.extract.min_tokens,
// they are split into chunks on paragraph/sentence boundaries (chunk_tokens each), a small model
// (stages.extract.model) condenses every chunk against the user's question, up to max_parallel at once
// (map), the pieces are joined in document order (reduce), and the last user message becomes
//   "<condensed documents>\n\n<question, verbatim>"
// for the model the request goes to. The `documents` field is always removed (it is a kuai extension,
// not OpenAI): below min_tokens its documents are inlined unchanged.
//
// Fails open: a chunk whose condensing fails (error, empty, or not shorter) keeps its original text.
// A message with no separable question is left alone (outcome "no_question").
// ctx.tokens_saved += input tokens removed (counted with the target model's counter when known).
// Header: x-kuai-extract: chunks=<n>; tokens_before=<n>; tokens_after=<n>
// Metrics: kuai_extract_requests_total{outcome}, kuai_extract_chunks_total{outcome},
//          kuai_extract_tokens_saved_total.
// Thread-safety: built once; on_request may run concurrently on any I/O thread.
#pragma once

#include "pipeline/pipeline.h"

#include <cstdint>
#include <memory>
#include <string>

namespace YAML { class Node; }

namespace kuai::stages {

struct ExtractConfig {
  int64_t min_tokens = 1500;          // documents below this many tokens are not condensed
  std::string model;                  // public name of the small model that condenses (required)
  int64_t chunk_tokens = 600;         // chunk size for the map step
  int64_t condense_tokens = 160;      // max_tokens of each small-model answer
  int max_parallel = 4;               // chunks condensed at once, per request
  int64_t max_question_tokens = 300;  // a question longer than this is not split off a message
  std::string prompt =
      "You condense documents for another assistant. From the text, keep only the facts that help answer "
      "the question, as short sentences in the text's language. Keep names, numbers, dates and quotes "
      "exactly. Do not answer the question. If nothing in the text is relevant, reply NONE.";
};

class ExtractStage : public pipeline::Stage {
 public:
  explicit ExtractStage(ExtractConfig cfg) : cfg_(std::move(cfg)) {}
  std::string_view name() const override { return "extract"; }
  boost::asio::awaitable<pipeline::Verdict> on_request(pipeline::Context& ctx) override;
  const ExtractConfig& config() const { return cfg_; }

 private:
  ExtractConfig cfg_;
};

std::unique_ptr<pipeline::Stage> make_extract_stage(const YAML::Node& cfg, pipeline::Services& services,
                                                    std::string& error);

}  // namespace kuai::stages
