#include "train/model_keys.h"

#include "core/error.h"

namespace qkv::train {
namespace {

constexpr const char* kVocab = "vocab_size";
constexpr const char* kSrcVocab = "src_vocab_size";
constexpr const char* kTgtVocab = "tgt_vocab_size";
constexpr const char* kContext = "block_size";
constexpr const char* kPatches = "n_patches";
constexpr const char* kPatchDim = "patch_dim";
constexpr const char* kClasses = "n_classes";

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
  if (!cfg.has(key)) cfg.set(key, nn::ConfigValue(value));
}

}  // namespace

int64_t model_vocab(const nn::Config& cfg, nn::Task task, bool target) {
  if (task == nn::Task::language_model) return get_int(cfg, kVocab);
  return get_int(cfg, target ? kTgtVocab : kSrcVocab);
}

int64_t model_context(const nn::Config& cfg) { return get_int(cfg, kContext); }

void set_data_dims_lm(nn::Config& cfg, const Vocab& v, int64_t context) {
  set_default(cfg, kVocab, v.vocab_size);
  if (context > 0) set_default(cfg, kContext, context);
}

void set_data_dims_seq2seq(nn::Config& cfg, const Vocab& src, const Vocab& tgt) {
  set_default(cfg, kSrcVocab, src.vocab_size);
  set_default(cfg, kTgtVocab, tgt.vocab_size);
}

void set_data_dims_vit(nn::Config& cfg, const Patches& x) {
  set_default(cfg, kPatches, x.num_patches());
  set_default(cfg, kPatchDim, x.patch_dim());
  set_default(cfg, kClasses, x.num_classes);
}

void check_patches_fit(const Patches& x, const nn::Config& cfg, const std::string& model_what) {
  int64_t P = get_int(cfg, kPatches), D = get_int(cfg, kPatchDim), C = get_int(cfg, kClasses);
  if (x.num_patches() != P || x.patch_dim() != D)
    throw DataError(x.path + ": patches of shape " + shape_str({x.num_patches(), x.patch_dim()}) +
                    " (patches x values) differ from " + model_what + " " + shape_str({P, D}));
  if (x.num_classes > C)
    throw DataError(x.path + ": " + std::to_string(x.num_classes) + " classes exceed " + model_what + " " +
                    std::to_string(C));
}

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
