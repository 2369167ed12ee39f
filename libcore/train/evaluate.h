// Validation of a training run: loss, perplexity and accuracy over the
// validation examples, and for seq2seq/rnn the decoding metrics (WER/TER of
// greedy or --valid-beam hypotheses, and with --valid-metric bleu|chrf their
// corpus BLEU and chrF2 on token ids), split across ranks when data parallel.
#pragma once
#include <string>
#include <vector>

#include "nn/model.h"
#include "train/metrics.h"
#include "train/trainer.h"

namespace qkv::train {

class Examples;
class DataParallel;

// Validation loss/accuracy over the whole set (or o.val_batches batches), in
// file order; with `decode`, the decoding metrics of the first o.decode_limit
// sources (0 = all). dp (or null): each rank evaluates its share of every
// batch and decodes its share of the sources; every rank gets the totals.
EvalResult evaluate(nn::Model& model, const Examples& ex, const TrainOptions& o, bool decode, DataParallel* dp);

// One line for the log ("loss 1.2345 ppl 3.437 token-acc 61.20% WER ...").
std::string describe_eval(const EvalResult& e, nn::Task task);

// The metrics-file fields of a validation.
std::vector<MetricsLog::Field> eval_fields(const EvalResult& e, nn::Task task);

}  // namespace qkv::train
