// Chat templates: the exact text per family, detection from real template strings, and tokenization
// of the rendered prompt with special tokens.
#include "engine/tokenizer/chat_template.h"

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include "support/paths.h"

namespace kuai::engine {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Weather?"}};

TEST(ChatTemplate, Llama2) {
  EXPECT_EQ(chat_template_apply(ChatTemplateKind::Llama2, kConversation),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Weather? [/INST]");
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(chat_template_apply(ChatTemplateKind::Llama3, kConversation),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWeather?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, ChatMLWithAndWithoutGenerationPrompt) {
  const std::string body =
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWeather?<|im_end|>\n";
  EXPECT_EQ(chat_template_apply(ChatTemplateKind::ChatML, kConversation), body + "<|im_start|>assistant\n");
  EXPECT_EQ(chat_template_apply(ChatTemplateKind::ChatML, kConversation, false), body);
}

TEST(ChatTemplate, ZephyrAndPhi3) {
  EXPECT_EQ(chat_template_apply(ChatTemplateKind::Zephyr, kConversation),
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\nWeather?</s>\n"
            "<|assistant|>\n");
  EXPECT_EQ(chat_template_apply(ChatTemplateKind::Phi3, {kConversation.begin() + 1, kConversation.begin() + 2}),
            "<|user|>\nHi<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, RawJoinsContents) {
  EXPECT_EQ(chat_template_apply(ChatTemplateKind::Raw, kConversation), "Be brief.\nHi\nHello!\nWeather?");
}

TEST(ChatTemplate, DetectsFamiliesFromTemplateStrings) {
  EXPECT_EQ(chat_template_detect("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"),
            ChatTemplateKind::ChatML);
  EXPECT_EQ(chat_template_detect("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"),
            ChatTemplateKind::Llama3);
  EXPECT_EQ(chat_template_detect("{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}"),
            ChatTemplateKind::Llama2);
  EXPECT_EQ(chat_template_detect("{{ '<|user|>\\n' + message['content'] + eos_token }}{{ '<|assistant|>' }}"),
            ChatTemplateKind::Zephyr);
  EXPECT_EQ(chat_template_detect("no markers"), std::nullopt);
  // The phi-3 vocab in ../shared carries its real template.
  auto f = GgufFile::open(kuai::test::shared_dir() + "/tokenizer-tests/ggml-vocab-phi-3.gguf");
  ASSERT_TRUE(f.ok());
  auto tok = Tokenizer::from_gguf(**f);
  ASSERT_TRUE(tok.ok());
  ASSERT_TRUE((*tok)->chat_template().has_value());
  EXPECT_EQ(chat_template_detect(*(*tok)->chat_template()), ChatTemplateKind::Phi3);
  // The rendered prompt tokenizes with <|user|>, <|end|>, <|assistant|> as single special tokens.
  const std::vector<ChatMessage> one = {{"user", "Hi"}};
  const auto ids = (*tok)->encode(chat_template_apply(ChatTemplateKind::Phi3, one), true, true);
  EXPECT_EQ(ids.front(), (*tok)->bos());
  EXPECT_NE(std::find(ids.begin(), ids.end(), *(*tok)->find("<|user|>")), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), *(*tok)->find("<|end|>")), ids.end());
  EXPECT_TRUE((*tok)->is_eog(*(*tok)->find("<|end|>")));
}

TEST(ChatTemplate, ResolveByNameDetectionOrRaw) {
  EXPECT_EQ(*chat_template_resolve(std::nullopt, "qwen"), ChatTemplateKind::ChatML);
  EXPECT_EQ(*chat_template_resolve(std::string("<|im_start|>"), ""), ChatTemplateKind::ChatML);
  EXPECT_EQ(*chat_template_resolve(std::string("<|im_start|>"), "llama2"), ChatTemplateKind::Llama2);
  EXPECT_EQ(*chat_template_resolve(std::nullopt, ""), ChatTemplateKind::Raw);
  auto bad = chat_template_resolve(std::nullopt, "vicuna");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("vicuna"), std::string::npos);
  for (auto k : {ChatTemplateKind::Raw, ChatTemplateKind::Llama2, ChatTemplateKind::Llama3, ChatTemplateKind::ChatML,
                 ChatTemplateKind::Zephyr, ChatTemplateKind::Phi3})
    EXPECT_EQ(chat_template_from_name(chat_template_name(k)), k);
}

}  // namespace
}  // namespace kuai::engine
