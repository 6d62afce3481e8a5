#include "train/checkpoint.h"

#include <cstring>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"

namespace kuai::train {

engine::Status save_checkpoint(const std::string& path, const Params& p, const AdamW& opt, int64_t step,
                               const std::string& fingerprint, const engine::GgufFile* tokenizer) {
  engine::GgufWriter w;
  if (auto st = add_model(w, p, tokenizer, "kuai-train-checkpoint"); !st) return st;
  w.set_u64("kuai.train.step", uint64_t(step));
  w.set_u64("kuai.train.adam_t", uint64_t(opt.t));
  w.set_string("kuai.train.fingerprint", fingerprint);
  for (const TensorSpec& t : Layout(p.config).tensors) {
    for (const auto& [prefix, src] : {std::pair{"adam.m.", &opt.m}, std::pair{"adam.v.", &opt.v}}) {
      std::vector<uint8_t> bytes(t.size() * sizeof(float));
      std::memcpy(bytes.data(), src->data() + t.offset, bytes.size());
      w.add_tensor(prefix + t.name, engine::GgmlType::F32, {int64_t(t.size())}, std::move(bytes));
    }
  }
  return w.write(path);
}

engine::Result<Checkpoint> load_checkpoint(const std::string& path) {
  auto f = engine::GgufFile::open(path);
  if (!f) return std::move(f).take_error();
  const engine::GgufFile& file = **f;
  const auto step = file.get_u64("kuai.train.step");
  const auto adam_t = file.get_u64("kuai.train.adam_t");
  if (!step || !adam_t) return engine::make_error(path + ": not a kuai training checkpoint (no kuai.train.step)");
  auto p = read_params(file);
  if (!p) return std::move(p).take_error();
  Checkpoint c;
  c.params = std::move(p).value();
  c.step = int64_t(*step);
  c.adam_t = int64_t(*adam_t);
  c.fingerprint = file.get_string("kuai.train.fingerprint").value_or("");
  const Layout layout(c.params.config);
  c.m.resize(layout.n_params);
  c.v.resize(layout.n_params);
  for (const TensorSpec& t : layout.tensors) {
    for (const auto& [prefix, dst] : {std::pair{"adam.m.", &c.m}, std::pair{"adam.v.", &c.v}}) {
      const engine::GgufTensor* g = file.tensor(prefix + t.name);
      if (!g || g->type != engine::GgmlType::F32 || g->n_elements() != int64_t(t.size()))
        return engine::make_error(path + ": missing or bad optimizer tensor '" + prefix + t.name + "'");
      std::memcpy(dst->data() + t.offset, g->data, t.size() * sizeof(float));
    }
  }
  return c;
}

}  // namespace kuai::train
