// Head masks (Michel et al. 2019 ablations): `--mask-heads` of qkv-attend and
// qkv-decode. A list names heads as LAYER.HEAD, both counted from 0:
//
//   self-attention stacks (gpt, vit):  "2.3,1.0"  = layer 2 head 3, layer 1 head 0
//   encoder-decoders (transformer):    "enc.1.0"  encoder self-attention, layer 1 head 0
//                                      "dec.0.2"  decoder self-attention, layer 0 head 2
//                                      "cross.2.3" cross-attention of decoder layer 2, head 3
//
// The named heads' outputs are zeroed before their layer's output projection
// (HeadProbe::gate, nn/model.h); every other head keeps gate 1.
#pragma once
#include <string>

#include "nn/model.h"

namespace qkv::nn {

// Sets m's head gates from `list` ("" clears them: all ones). UsageError
// naming the item for a malformed item, an unknown prefix, a layer or head
// out of range, or a model without multi-head attention (the rnn).
void mask_heads(Model& m, const std::string& list);

}  // namespace qkv::nn
