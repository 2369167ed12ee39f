// qkv-attend: attention as tensors. `sdpa` runs scaled dot-product attention
// on raw Q, K, V tensors. All the work is in libcore/attend.
#include "attend/sdpa.h"
#include "cli/tool.h"

using namespace qkv;

int main(int argc, char** argv) {
  cli::Tool tool("qkv-attend", "Attention weights as tensors: scaled dot-product attention on any Q, K, V.");
  tool.examples(
      "qkv-attend sdpa --q x.h5 --k x.h5 --v x.h5 --heads 4 --causal -o att.h5\n"
      "  qkv-attend sdpa --q dec.h5:h --k enc.h5:h --v enc.h5:h --heads 4 --proj mha.h5 -o att.h5");

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
  tool.app().require_subcommand(1);

  return tool.run(argc, argv, [&] { attend::run_sdpa(sf); });
}
