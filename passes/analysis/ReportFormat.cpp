//===- ReportFormat.cpp - the report as a table and as JSON ---------------===//
#include "passes/analysis/Report.h"
#include "passes/JsonOutput.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

using namespace ds;

namespace {

/// 671026404352 -> "671,026,404,352": counts this large are read, not parsed.
std::string grouped(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

/// 671026404352 -> "671.03 B", with K/M/B/T steps of 1000.
std::string scaled(double value) {
  const char *suffixes[] = {"", " K", " M", " B", " T"};
  int step = 0;
  while (value >= 1000.0 && step < 4) {
    value /= 1000.0;
    ++step;
  }
  if (step == 0)
    return llvm::formatv("{0:F0}", value).str();
  return llvm::formatv("{0:F2}{1}", value, suffixes[step]).str();
}

void summaryLine(llvm::raw_ostream &os, llvm::StringRef key, int64_t value, llvm::StringRef note) {
  os << llvm::left_justify(key, 30) << llvm::right_justify(grouped(value), 20) << "  "
     << llvm::left_justify(scaled(double(value)), 10) << "  " << note << "\n";
}

} // namespace

void ds::printReportText(const ModelReport &r, llvm::raw_ostream &os) {
  os << "ds-report: " << (r.modelType.empty() ? "model" : r.modelType) << ", batch " << r.batch
     << " x seq " << r.seq << "\n";
  summaryLine(os, "params_total", r.paramsTotal, "main model; buffers and MTP excluded");
  summaryLine(os, "params_activated", r.paramsActivated, "per token; embedding table excluded");
  summaryLine(os, "params_embedding", r.paramsEmbedding, "the token embedding table");
  summaryLine(os, "params_mtp", r.paramsMtp, "MTP modules (embedding and head shared)");
  summaryLine(os, "buffer_elements", r.bufferElements, "state without gradient");
  summaryLine(os, "flops_per_token_forward", r.flopsPerTokenForward,
              llvm::formatv("main model, causal attention at seq {0}", r.seq).str());
  summaryLine(os, "flops_per_token_mtp_forward", r.flopsPerTokenMtpForward,
              "MTP modules (training only)");
  summaryLine(os, "flops_per_token_training", r.flopsPerTokenTraining,
              "3 x (forward + MTP forward)");
  summaryLine(os, "kv_cache_bytes_per_token", r.kvCacheBytesPerToken,
              "MLA: (kv_lora_rank + qk_rope) x 2 B per layer");
  double ratio = r.kvCacheBytesPerToken > 0
                     ? double(r.kvCacheBytesPerTokenMha) / double(r.kvCacheBytesPerToken)
                     : 0.0;
  summaryLine(os, "kv_cache_bytes_per_token_mha", r.kvCacheBytesPerTokenMha,
              llvm::formatv("MHA of the same heads, {0:F1}x MLA", ratio).str());
  summaryLine(os, "train_state_bytes", r.trainStateBytes,
              "f32 weight, gradient, two AdamW moments");

  os << "\n"
     << llvm::left_justify("layer", 20) << llvm::left_justify("kind", 10)
     << llvm::right_justify("params", 12) << llvm::right_justify("activated", 12)
     << llvm::right_justify("FLOP/token", 12) << llvm::right_justify("KV B/token", 12) << "\n";
  for (const LayerReport &layer : r.layers)
    os << llvm::left_justify(layer.name, 20) << llvm::left_justify(layer.kind, 10)
       << llvm::right_justify(scaled(double(layer.params)), 12)
       << llvm::right_justify(scaled(double(layer.paramsActivated)), 12)
       << llvm::right_justify(scaled(double(layer.flopsPerTokenForward)), 12)
       << llvm::right_justify(std::to_string(layer.kvCacheBytesPerToken), 12) << "\n";
}

llvm::json::Value ds::reportToJson(const ModelReport &r) {
  llvm::json::Array layers;
  for (const LayerReport &layer : r.layers)
    layers.push_back(llvm::json::Object{
        {"name", layer.name},
        {"kind", layer.kind},
        {"params", layer.params},
        {"params_activated", layer.paramsActivated},
        {"flops_per_token_forward", layer.flopsPerTokenForward},
        {"kv_cache_bytes_per_token", layer.kvCacheBytesPerToken},
        {"kv_cache_bytes_per_token_mha", layer.kvCacheBytesPerTokenMha},
    });
  return llvm::json::Object{
      {"model_type", r.modelType},
      {"batch", r.batch},
      {"seq", r.seq},
      {"params_total", r.paramsTotal},
      {"params_activated", r.paramsActivated},
      {"params_embedding", r.paramsEmbedding},
      {"params_mtp", r.paramsMtp},
      {"buffer_elements", r.bufferElements},
      {"flops_per_token_forward", r.flopsPerTokenForward},
      {"flops_per_token_mtp_forward", r.flopsPerTokenMtpForward},
      {"flops_per_token_training", r.flopsPerTokenTraining},
      {"kv_cache_bytes_per_token", r.kvCacheBytesPerToken},
      {"kv_cache_bytes_per_token_mha", r.kvCacheBytesPerTokenMha},
      {"train_state_bytes", r.trainStateBytes},
      {"layers", std::move(layers)},
  };
}

llvm::Error ds::writeReportJson(const ModelReport &report, llvm::StringRef path) {
  return writeJsonFile(reportToJson(report), path);
}
