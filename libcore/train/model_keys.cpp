#include "train/model_keys.h"

#include "core/error.h"

namespace qkv::train {
namespace {

// Hyperparameter names the data decides, per architecture (nullptr: none).
struct ArchKeys {
  const char* vocab;
  const char* src_vocab;
  const char* tgt_vocab;
  const char* context;
  const char* pad;
  const char* patches;
  const char* patch_dim;
  const char* classes;
};

const ArchKeys& keys_for(const std::string& arch) {
  static const ArchKeys gpt{"vocab_size", nullptr, nullptr, "block_size", nullptr, nullptr, nullptr, nullptr};
  static const ArchKeys transformer{nullptr, "src_vocab_size", "tgt_vocab_size", nullptr, "pad_id", nullptr, nullptr, nullptr};
  static const ArchKeys rnn{nullptr, "src_vocab_size", "tgt_vocab_size", nullptr, "pad_id", nullptr, nullptr, nullptr};
  static const ArchKeys vit{nullptr, nullptr, nullptr, nullptr, nullptr, "n_patches", "patch_dim", "n_classes"};
  if (arch == "gpt") return gpt;
  if (arch == "transformer") return transformer;
  if (arch == "rnn") return rnn;
  if (arch == "vit") return vit;
  throw UsageError("qkv-train does not know how to size a '" + arch + "' model from data");
}

int64_t get_int(const nn::Config& cfg, const char* key) {
  const nn::ConfigValue* v = cfg.find(key);
  if (!v) throw DataError(std::string("model hyperparameter '") + key + "' is missing");
  if (auto* i = std::get_if<int64_t>(v)) return *i;
  if (auto* s = std::get_if<std::string>(v)) {
    try {
      return std::stoll(*s);
    } catch (...) {
    }
  }
  throw DataError(std::string("model hyperparameter '") + key + "' is not an integer: " + nn::config_value_str(*v));
}

void set_default(nn::Config& cfg, const char* key, int64_t value) {
  if (key && !cfg.has(key)) cfg.set(key, nn::ConfigValue(value));
}

}  // namespace

int64_t model_vocab(const std::string& arch, const nn::Config& cfg, bool target) {
  const ArchKeys& k = keys_for(arch);
  if (k.vocab) return get_int(cfg, k.vocab);
  return get_int(cfg, target ? k.tgt_vocab : k.src_vocab);
}

int64_t model_context(const std::string& arch, const nn::Config& cfg) {
  const ArchKeys& k = keys_for(arch);
  return k.context ? get_int(cfg, k.context) : 0;
}

int64_t model_pad_id(const std::string& arch, const nn::Config& cfg) {
  const ArchKeys& k = keys_for(arch);
  return k.pad && cfg.has(k.pad) ? get_int(cfg, k.pad) : -1;
}

void set_data_dims_lm(const std::string& arch, nn::Config& cfg, const Vocab& v, int64_t context) {
  const ArchKeys& k = keys_for(arch);
  set_default(cfg, k.vocab, v.vocab_size);
  if (context > 0) set_default(cfg, k.context, context);
}

void set_data_dims_seq2seq(const std::string& arch, nn::Config& cfg, const Vocab& src, const Vocab& tgt) {
  const ArchKeys& k = keys_for(arch);
  set_default(cfg, k.src_vocab, src.vocab_size);
  set_default(cfg, k.tgt_vocab, tgt.vocab_size);
  set_default(cfg, k.pad, tgt.pad_id);
}

void set_data_dims_vit(const std::string& arch, nn::Config& cfg, const Patches& x) {
  const ArchKeys& k = keys_for(arch);
  set_default(cfg, k.patches, x.num_patches());
  set_default(cfg, k.patch_dim, x.patch_dim());
  set_default(cfg, k.classes, x.num_classes);
}

void check_patches_fit(const std::string& arch, const Patches& x, const nn::Config& cfg,
                       const std::string& model_what) {
  const ArchKeys& k = keys_for(arch);
  int64_t P = get_int(cfg, k.patches), D = get_int(cfg, k.patch_dim), C = get_int(cfg, k.classes);
  if (x.num_patches() != P || x.patch_dim() != D)
    throw DataError(x.path + ": patches of shape " + shape_str({x.num_patches(), x.patch_dim()}) +
                    " (patches x values) differ from " + model_what + " " + shape_str({P, D}));
  if (x.num_classes > C)
    throw DataError(x.path + ": " + std::to_string(x.num_classes) + " classes exceed " + model_what + " " +
                    std::to_string(C));
}

bool is_training_only_key(const std::string& key) { return key == "dropout" || key == "label_smoothing"; }

void check_flags_match_checkpoint(const nn::Config& given, const nn::Config& file, const std::string& path) {
  for (const auto& kv : given.items()) {
    const nn::ConfigValue* f = file.find(kv.first);
    std::string g = nn::config_value_str(kv.second);
    if (!f)
      throw UsageError(path + ": the checkpoint's model has no hyperparameter '" + kv.first +
                       "'; drop that flag (the model comes from the checkpoint)");
    std::string fv = nn::config_value_str(*f);
    // Compare numerically when both read as numbers ("0.10" == 0.1).
    char* e1 = nullptr;
    char* e2 = nullptr;
    double a = std::strtod(g.c_str(), &e1), b = std::strtod(fv.c_str(), &e2);
    bool both_num = e1 && *e1 == '\0' && e2 && *e2 == '\0' && !g.empty() && !fv.empty();
    if (both_num ? a != b : g != fv)
      throw UsageError(path + ": " + kv.first + " = " + g + " differs from the checkpoint's " + fv +
                       " (the model comes from the checkpoint; drop that flag)");
  }
}

}  // namespace qkv::train
