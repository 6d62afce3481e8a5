// `kuai tokenize -m MODEL.gguf`: text on stdin (or -p) → token ids on stdout, with the model's tokenizer.
#include "app/verbs.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

namespace kuai::app {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out.push_back(static_cast<char>(c));
  }
  return out;
}

VerbRegistrar reg("tokenize", [](CLI::App& root) {
  struct Args {
    std::string model, prompt;
    bool prompt_set = false, no_bos = false, parse_special = false, pieces = false, keep_newline = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = root.add_subcommand("tokenize",
                                  "Tokenize text with a GGUF model's tokenizer: text on stdin (or -p), token ids on\n"
                                  "stdout separated by spaces (one trailing newline of the input is dropped).");
  cmd->add_option("-m,--model", a->model, "GGUF file (a vocab-only GGUF works too)")->required();
  cmd->add_option("-p,--prompt", a->prompt, "text to tokenize instead of stdin");
  cmd->add_flag("--no-bos", a->no_bos, "do not add BOS/EOS even if the vocab asks for them");
  cmd->add_flag("--parse-special", a->parse_special, "turn control tokens written in the text (<s>, <|im_start|>) into their ids");
  cmd->add_flag("--pieces", a->pieces, "print one token per line: id, a tab, and the token's text (escaped)");
  cmd->add_flag("--keep-newline", a->keep_newline, "keep a trailing newline of stdin");
  cmd->callback([a, cmd] {
    auto file = engine::GgufFile::open(a->model);
    if (!file) {
      set_exit_code(fail("tokenize", file.error(), "-m must name a GGUF file"));
      return;
    }
    auto tok = engine::Tokenizer::from_gguf(**file);
    if (!tok) {
      set_exit_code(fail("tokenize", a->model + ": " + tok.error(), "the GGUF must carry tokenizer.ggml.* metadata"));
      return;
    }
    std::string text;
    if (cmd->count("--prompt") > 0) {
      text = a->prompt;
    } else {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      if (!a->keep_newline && !text.empty() && text.back() == '\n') {
        text.pop_back();
        if (!text.empty() && text.back() == '\r') text.pop_back();
      }
    }
    const auto ids = (*tok)->encode(text, !a->no_bos, a->parse_special);
    std::ostringstream out;
    if (a->pieces) {
      for (auto id : ids) out << id << '\t' << escape((*tok)->token_to_piece(id, true)) << '\n';
    } else {
      for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
      out << '\n';
    }
    std::fputs(out.str().c_str(), stdout);
  });
});

}  // namespace
}  // namespace kuai::app
