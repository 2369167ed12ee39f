// qkv-attend: attention as tensors. The main mode exports every layer and
// head of a model over a dataset (with rollout, flow and head statistics);
// `sdpa` runs scaled dot-product attention on raw Q, K, V tensors. All the
// work is in libcore/attend.
#include "attend/export.h"
#include "attend/sdpa.h"
#include "attend/pictures.h"
#include "cli/tool.h"
#include "core/error.h"

using namespace qkv;

int main(int argc, char** argv) {
  cli::Tool tool("qkv-attend", "Attention weights as tensors: every layer and head of a model over a dataset, "
                               "rollout, flow and head statistics; scaled dot-product attention on any Q, K, V.");
  tool.examples(
      "qkv-attend -m lm.h5 tokens.h5 --examples 0-99 --stats --rollout -o att.h5\n"
      "  qkv-attend -m g2p.h5 val.h5 --importance --mask-heads cross.1.0,dec.0.2 --stats-only -o imp.h5\n"
      "  qkv-attend -m vit.h5 fm_test.h5 --examples 0-9 --grad-rollout --target-class 3 -o rel.h5\n"
      "  qkv-attend -m vit.h5 fm_test.h5 --stats-only -o stats.h5\n"
      "  qkv-attend -m g2p.h5 val.h5 -t letters.h5 --tgt-tokenizer phones.h5 --examples 0-4 --png maps/ -o att.h5\n"
      "  qkv-attend -m g2p.h5 -t letters.h5 --tgt-tokenizer phones.h5 --bos --eos words.txt --png maps/ -o att.h5\n"
      "  qkv-attend -m lm.h5 -t chars.h5 lines.txt --rollout --png maps/ -o att.h5\n"
      "  qkv-attend -m vit.h5 test.0.h5 test.1.h5 test.2.h5 --stats-only -o stats.h5      (shards 0..2 of 3)\n"
      "  qkv-attend draw att.h5 --images fm_test.h5 --png maps/\n"
      "  qkv-attend sdpa --q x.h5 --k x.h5 --v x.h5 --heads 4 --causal -o att.h5\n"
      "  qkv-attend sdpa --q dec.h5:h --k enc.h5:h --v enc.h5:h --heads 4 --proj mha.h5 -o att.h5");
  tool.subcommand_optional();

  attend::ExportOptions eo;
  std::string fusion = "mean";
  tool.app().add_option("-m,--model", eo.model, "model checkpoint (gpt, transformer, rnn or vit)");
  tool.app().add_option("input", eo.input.inputs,
                        "tokens file (gpt: windows of block_size), token pairs file (transformer, rnn: teacher-"
                        "forced) or patches file (vit); several: the shards 0..N-1 of qkv-tokenize encode / qkv-"
                        "patchify --shard K/N in order; @LIST: the files LIST names; text with -t (files read one "
                        "after the other): gpt: a sequence per line; transformer, rnn: source<TAB>target per line, "
                        "or a source alone, whose target is the model's greedy output");
  tool.app().add_option("--layers", eo.layers, "layers to export, e.g. --layers 0 --layers 3 (default all; each kind exports those it has)");
  tool.app().add_option("--heads", eo.heads, "heads to export (default all)");
  tool.app().add_option("--examples", eo.examples, "examples to export: indices and ranges, e.g. 0-9,15 (default all)");
  tool.app().add_flag("--stats", eo.stats, "per-head statistics (entropy, distance, confidence, shares)");
  tool.app().add_flag("--stats-only", eo.stats_only, "per-head statistics without the raw weights");
  tool.app().add_flag("--rollout", eo.rollout, "attention rollout of each self-attention stack (T, T)");
  tool.app().add_flag("--flow", eo.flow, "attention flow (max-flow; costs L x T^4, refused above 1e9)");
  tool.app().add_option("--head-fusion", fusion, "rollout and flow: mean, min or max over heads")
      ->capture_default_str();
  tool.app().add_option("--discard-ratio", eo.rollout_options.discard_ratio,
                        "rollout and flow: drop this share of the smallest fused weights")
      ->capture_default_str();
  tool.app().add_option("--mask-heads", eo.mask_heads,
                        "run with these heads' outputs zeroed and store the loss with and without them: "
                        "LAYER.HEAD,... counted from 0 (gpt, vit: 2.3,1.0; transformer: enc.L.H encoder self, "
                        "dec.L.H decoder self, cross.L.H cross-attention)");
  tool.app().add_flag("--importance", eo.importance,
                      "head importance (Michel et al. 2019): sum over examples of |dL/dgate_h|, per layer "
                      "L2-normalised, (layers, heads) per kind");
  tool.app().add_flag("--grad-rollout", eo.grad_rollout,
                      "gradient-weighted rollout (Chefer et al. 2021) of each example's target output; encoder-"
                      "decoders: encoder (S, S), decoder (T, T) and cross (T, S) relevance");
  tool.app().add_option("--target-class", eo.target_class,
                        "vit --grad-rollout: this class's logit (default: the predicted class)")
      ->check(CLI::NonNegativeNumber);
  tool.app().add_option("--target-token", eo.target_token,
                        "lm, seq2seq --grad-rollout: this token's logit at the last position (default: the "
                        "teacher-forced next token there, or the predicted one at the end of a sequence)")
      ->check(CLI::NonNegativeNumber);
  tool.app().add_flag("--bos", eo.input.bos, "text: put <bos> before each source (gpt: sequence), as qkv-tokenize "
                                            "encode --bos did for training");
  tool.app().add_flag("--eos", eo.input.eos, "text: put <eos> after each source (gpt: sequence), as encode --eos");
  tool.app().add_option("-b,--batch", eo.batch, "examples per forward pass")->capture_default_str()->check(
      CLI::PositiveNumber);
  tool.add_output(tool.app(), eo.output);
  draw::DrawOptions dro;
  auto picture_options = [&](CLI::App& app) {
    app.add_option("--png", dro.dir, "also draw pictures into this folder (created)");
    app.add_option("-t,--tokenizer", dro.tokenizer,
                   "INPUT is text (unless it is an HDF5 file): encode it with this tokenizer (seq2seq: the "
                   "sources); label tokens with its pieces (pictures and the output file's */pieces)");
    app.add_option("--tgt-tokenizer", dro.tgt_tokenizer,
                   "seq2seq: the target side's tokenizer, for text targets and labels (default: -t)");
    app.add_option("--png-examples", dro.examples, "draw the first N examples")->capture_default_str()->check(
        CLI::PositiveNumber);
  };
  picture_options(tool.app());

  CLI::App* draw = tool.app().add_subcommand("draw", "pictures of an attention file (qkv-attend's output) as PNGs");
  draw->add_option("attention", dro.attention, "qkv-attend's output file")->required();
  picture_options(*draw);
  draw->add_option("--images", dro.images,
                   "vit: the patches file(s) the attention came from (image overlays; shards in order, @LIST)");

  attend::SdpaFiles sf;
  CLI::App* sdpa = tool.app().add_subcommand(
      "sdpa", "softmax(Q K^T / sqrt(d) + masks) V on raw tensors (PyTorch's scaled_dot_product_attention, or "
              "nn.MultiheadAttention with --proj); writes out and weights (B, H, Tq, Tk)");
  const std::string spec = " (FILE holding one dataset, or FILE:DATASET)";
  sdpa->add_option("--q", sf.q, "queries (T, E), (B, T, E) or (B, H, T, hs)" + spec)->required();
  sdpa->add_option("--k", sf.k, "keys, shaped as the queries with Tk rows" + spec)->required();
  sdpa->add_option("--v", sf.v, "values, shaped as the keys" + spec)->required();
  sdpa->add_flag("--causal", sf.causal, "query i sees keys j <= i + Tk - Tq");
  sdpa->add_option("--key-padding-mask", sf.key_padding_mask, "integer (B, Tk), nonzero = padded key" + spec);
  sdpa->add_option("--heads", sf.heads, "split E into this many heads (default 1; 4-D inputs carry their own)")
      ->check(CLI::PositiveNumber);
  sdpa->add_option("--proj", sf.proj,
                   "nn.MultiheadAttention's state_dict (in_proj_weight, in_proj_bias, out_proj.weight, "
                   "out_proj.bias) in FILE or FILE:GROUP");
  tool.add_output(*sdpa, sf.output);

  return tool.run(argc, argv, [&] {
    if (sdpa->parsed()) return attend::run_sdpa(sf);
    if (draw->parsed()) {
      if (dro.dir.empty()) throw UsageError("draw: give --png FOLDER");
      attend::check_png_dir(dro.dir);
      attend::draw_pictures(dro);
      return;
    }
    if (eo.model.empty() || eo.input.inputs.empty())
      throw UsageError("give -m MODEL and an INPUT file (or: sdpa ..., draw ...)");
    eo.input.tokenizer = dro.tokenizer, eo.input.tgt_tokenizer = dro.tgt_tokenizer;
    eo.rollout_options.fusion = attend::parse_fusion(fusion);
    if (!dro.dir.empty()) {
      if (eo.output == "-") throw UsageError("--png draws from the output file: give -o FILE, not stdout");
      attend::check_png_dir(dro.dir);  // before the work, not after
    }
    attend::run_export(eo);
    if (!dro.dir.empty()) {
      dro.attention = eo.output, dro.images = eo.input.inputs, dro.images_required = false;
      attend::draw_pictures(dro);
    }
  });
}
