#include "runtime/train/HfWeights.h"

#include "runtime/io/AtomicFile.h"
#include "runtime/io/FileBytes.h"
#include "runtime/io/Json.h"
#include "runtime/io/SafetensorsSet.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace ds::rt {

namespace {

constexpr const char *kLayerPrefix = "model.layers.";

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int64_t product(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

/// The L of "model.layers.L.<rest>" and the rest, or -1.
int64_t layerOf(const std::string &name, std::string *rest = nullptr) {
  if (name.rfind(kLayerPrefix, 0) != 0)
    return -1;
  size_t begin = std::strlen(kLayerPrefix), end = name.find('.', begin);
  if (end == std::string::npos || end == begin)
    return -1;
  int64_t layer = 0;
  for (size_t i = begin; i < end; ++i) {
    if (name[i] < '0' || name[i] > '9')
      return -1;
    layer = layer * 10 + (name[i] - '0');
  }
  if (rest)
    *rest = name.substr(end + 1);
  return layer;
}

/// Where element `i` (row-major) of a piece's HF tensor lies in the plan tensor of shape
/// `planShape`. The swap is its own inverse, so one map serves import and export.
int64_t planIndex(const HfPiece &piece, const std::vector<int64_t> &planShape, int64_t i) {
  if (!piece.swapColumnHalves)
    return piece.offset + i;
  int64_t cols = planShape[1], row = i / cols, col = i % cols;
  return row * cols + (col + cols / 2) % cols;
}

void pieceToPlan(const HfPiece &piece, const std::vector<int64_t> &planShape, const float *hf,
                 float *plan) {
  int64_t count = product(piece.shape);
  if (!piece.swapColumnHalves) {
    std::memcpy(plan + piece.offset, hf, static_cast<size_t>(count) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < count; ++i)
    plan[planIndex(piece, planShape, i)] = hf[i];
}

void pieceFromPlan(const HfPiece &piece, const std::vector<int64_t> &planShape,
                   const float *plan, float *hf) {
  int64_t count = product(piece.shape);
  if (!piece.swapColumnHalves) {
    std::memcpy(hf, plan + piece.offset, static_cast<size_t>(count) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < count; ++i)
    hf[i] = plan[planIndex(piece, planShape, i)];
}

struct BlockSize {
  int64_t rows = 128, cols = 128;
};

/// config.json's quantization_config.weight_block_size, or DeepSeek-V3's 128x128.
Expected<BlockSize> readBlockSize(const std::string &hfDir) {
  std::string path = hfDir + "/config.json";
  BlockSize block;
  if (!fs::exists(path))
    return block;
  Expected<FileBytes> bytes = FileBytes::open(path, FileBytes::Mode::Read);
  if (!bytes)
    return bytes.status();
  Expected<JsonValue> json = parseJson(
      std::string_view(reinterpret_cast<const char *>(bytes->data()), bytes->size()));
  if (!json)
    return errorf(path, ": ", json.status().message());
  const JsonValue *quantization = json->find("quantization_config");
  const JsonValue *size =
      quantization && quantization->isObject() ? quantization->find("weight_block_size") : nullptr;
  if (!size)
    return block;
  if (!size->isArray() || size->elements().size() != 2 || !size->elements()[0].isInteger() ||
      !size->elements()[1].isInteger() || size->elements()[0].asInteger() <= 0 ||
      size->elements()[1].asInteger() <= 0)
    return errorf(path, ": quantization_config.weight_block_size must be two positive integers");
  block.rows = size->elements()[0].asInteger();
  block.cols = size->elements()[1].asInteger();
  return block;
}

/// Reads HF tensor `key` as f32 into `out`, dequantizing FP8 with `<key>_scale_inv`.
Status readHfTensor(const SafetensorsSet &set, const SafetensorsTensorInfo &info,
                    const BlockSize &block, std::vector<float> &out,
                    std::set<std::string> &used) {
  out.resize(info.numElements());
  DS_RETURN_IF_ERROR(set.readF32(info.name, out.data(), out.size()));
  if (info.dtype != SafetensorsDType::F8E4M3)
    return Status::ok();
  std::string scaleKey = info.name + "_scale_inv";
  const SafetensorsTensorInfo *scale = set.find(scaleKey);
  if (!scale)
    return errorf("FP8 weight '", info.name, "' has no block scale '", scaleKey, "'");
  if (info.shape.size() != 2)
    return errorf("FP8 weight '", info.name, "' has shape ", shapeText(info.shape),
                  "; block scales need a matrix");
  int64_t rows = info.shape[0], cols = info.shape[1];
  int64_t blockRows = (rows + block.rows - 1) / block.rows;
  int64_t blockCols = (cols + block.cols - 1) / block.cols;
  if (scale->shape != std::vector<int64_t>{blockRows, blockCols})
    return errorf("block scale '", scaleKey, "' has shape ", shapeText(scale->shape), " but ",
                  shapeText(info.shape), " in ", block.rows, "x", block.cols, " blocks needs ",
                  shapeText({blockRows, blockCols}));
  Expected<std::vector<float>> scales = set.readF32(scaleKey);
  if (!scales)
    return scales.status();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] *= (*scales)[(r / block.rows) * blockCols + c / block.cols];
  used.insert(scaleKey);
  return Status::ok();
}

Expected<SafetensorsSet> openCheckpoint(const std::string &hfDir) {
  std::string index = hfDir + "/model.safetensors.index.json";
  std::string single = hfDir + "/model.safetensors";
  if (fs::exists(index))
    return SafetensorsSet::open(index);
  if (fs::exists(single))
    return SafetensorsSet::open(single);
  return errorf(hfDir, ": no model.safetensors.index.json or model.safetensors");
}

/// True for checkpoint tensors an MTP-less or MTP plan leaves out on purpose.
bool isSkippedMtpTensor(const std::string &name, int64_t planLayers) {
  std::string rest;
  int64_t layer = layerOf(name, &rest);
  if (layer < 0)
    return false;
  return layer >= planLayers || rest == "embed_tokens.weight" ||
         rest == "shared_head.head.weight";
}

Status writeIndex(const std::string &path, uint64_t totalBytes,
                  const std::vector<std::pair<std::string, std::string>> &weightMap) {
  std::string json = "{\n  \"metadata\": {\"total_size\": " + std::to_string(totalBytes) +
                     "},\n  \"weight_map\": {";
  for (size_t i = 0; i < weightMap.size(); ++i) {
    json += i ? ",\n    " : "\n    ";
    appendJsonString(json, weightMap[i].first);
    json += ": ";
    appendJsonString(json, weightMap[i].second);
  }
  json += "\n  }\n}\n";
  return writeFileAtomically(path, json);
}

} // namespace

std::vector<std::vector<HfPiece>> hfLayoutsOf(const std::string &name,
                                              const std::vector<int64_t> &shape) {
  const std::string expertsGateUp = ".mlp.experts.gate_up", expertsDown = ".mlp.experts.down";
  if (endsWith(name, expertsGateUp) && shape.size() == 3 && shape[1] % 2 == 0) {
    std::string prefix = name.substr(0, name.size() - std::strlen("gate_up"));
    int64_t experts = shape[0], half = shape[1] / 2, width = shape[2];
    std::vector<HfPiece> perExpert;
    for (int64_t e = 0; e < experts; ++e) {
      std::string expert = prefix + std::to_string(e) + ".";
      int64_t base = e * 2 * half * width;
      perExpert.push_back({expert + "gate_proj.weight", {half, width}, base, false});
      perExpert.push_back({expert + "up_proj.weight", {half, width}, base + half * width, false});
    }
    return {perExpert, {{prefix + "gate_up_proj", shape, 0, false}}};
  }
  if (endsWith(name, expertsDown) && shape.size() == 3) {
    std::string prefix = name.substr(0, name.size() - std::strlen("down"));
    std::vector<HfPiece> perExpert;
    for (int64_t e = 0; e < shape[0]; ++e)
      perExpert.push_back({prefix + std::to_string(e) + ".down_proj.weight",
                           {shape[1], shape[2]},
                           e * shape[1] * shape[2],
                           false});
    return {perExpert, {{prefix + "down_proj", shape, 0, false}}};
  }
  if (endsWith(name, ".gate_up") && shape.size() == 2 && shape[0] % 2 == 0) {
    std::string prefix = name.substr(0, name.size() - std::strlen("gate_up"));
    int64_t half = shape[0] / 2;
    return {{{prefix + "gate_proj.weight", {half, shape[1]}, 0, false},
             {prefix + "up_proj.weight", {half, shape[1]}, half * shape[1], false}}};
  }
  if (endsWith(name, ".eh_proj.weight") && shape.size() == 2 && shape[1] % 2 == 0)
    return {{{name, shape, 0, true}}};
  return {{{name, shape, 0, false}}};
}

std::vector<HfTensor> toHfTensors(const std::string &name, const std::vector<int64_t> &shape,
                                  const float *data, const std::string &prefix) {
  std::vector<HfTensor> tensors;
  std::vector<std::vector<HfPiece>> layouts = hfLayoutsOf(name, shape);
  for (const HfPiece &piece : layouts.front()) {
    HfTensor tensor{prefix + piece.key, piece.shape,
                    std::vector<float>(static_cast<size_t>(product(piece.shape)))};
    pieceFromPlan(piece, shape, data, tensor.data.data());
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

Expected<HfImportSummary> importHfWeights(Executor &executor, const std::string &hfDir) {
  Expected<SafetensorsSet> set = openCheckpoint(hfDir);
  if (!set)
    return set.status();
  Expected<BlockSize> block = readBlockSize(hfDir);
  if (!block)
    return block.status();

  const Plan &plan = executor.plan();
  HfImportSummary summary;
  std::set<std::string> used;
  int64_t planLayers = 0;
  std::vector<float> values;
  for (size_t id = 0; id < plan.buffers.size(); ++id) {
    const PlanBuffer &buffer = plan.buffers[id];
    if (buffer.role != BufferRole::Param && buffer.role != BufferRole::Buffer)
      continue;
    planLayers = std::max(planLayers, layerOf(buffer.name) + 1);
    const char *what = buffer.role == BufferRole::Param ? "parameter" : "buffer";
    if (buffer.dtype != DType::F32 && buffer.dtype != DType::BF16)
      return errorf("plan ", what, " '", buffer.name, "' is ", dtypeName(buffer.dtype),
                    "; HF weights load into f32 or bf16 tensors only");
    std::vector<std::vector<HfPiece>> layouts = hfLayoutsOf(buffer.name, buffer.shape);
    const std::vector<HfPiece> *layout = &layouts.front();
    for (const std::vector<HfPiece> &candidate : layouts)
      if (set->find(candidate.front().key)) {
        layout = &candidate;
        break;
      }
    if (buffer.role == BufferRole::Buffer && !set->find(layout->front().key)) {
      summary.zeroBuffers.push_back(buffer.name);
      continue;
    }
    // A BF16 tensor is assembled in FP32 and rounded once (nearest even) when the writer
    // goes out of scope.
    cpu::FloatWriter writer(executor.view(static_cast<int32_t>(id)));
    float *target = writer.data();
    for (const HfPiece &piece : *layout) {
      const SafetensorsTensorInfo *info = set->find(piece.key);
      if (!info)
        return errorf(hfDir, ": the checkpoint has no '", piece.key, "', which plan ", what, " '",
                      buffer.name, "' ", shapeText(buffer.shape), " is read from");
      if (info->shape != piece.shape)
        return errorf(hfDir, ": '", piece.key, "' has shape ", shapeText(info->shape),
                      " but plan ", what, " '", buffer.name, "' ", shapeText(buffer.shape),
                      " needs ", shapeText(piece.shape), " there");
      if (!isSafetensorsFloat(info->dtype))
        return errorf(hfDir, ": '", piece.key, "' is ", safetensorsDTypeName(info->dtype),
                      "; weights must be F32, BF16, F16 or F8_E4M3");
      Status read = readHfTensor(*set, *info, *block, values, used);
      if (!read)
        return errorf(hfDir, ": ", read.message());
      pieceToPlan(piece, buffer.shape, values.data(), target);
      used.insert(piece.key);
      ++summary.tensorsRead;
    }
  }
  for (const SafetensorsTensorInfo *info : set->tensors()) {
    if (used.count(info->name))
      continue;
    if (isSkippedMtpTensor(info->name, planLayers))
      ++summary.skippedMtpTensors;
    else
      summary.unusedTensors.push_back(info->name);
  }
  return summary;
}

Status exportHfWeights(const Executor &executor, const std::string &outDir,
                       const HfExportOptions &options) {
  std::error_code error;
  fs::create_directories(outDir, error);
  if (error)
    return errorf("cannot create '", outDir, "': ", error.message());
  const Plan &plan = executor.plan();
  std::vector<HfTensor> tensors;
  for (size_t id = 0; id < plan.buffers.size(); ++id) {
    const PlanBuffer &buffer = plan.buffers[id];
    if (buffer.role != BufferRole::Param && buffer.role != BufferRole::Buffer)
      continue;
    if (buffer.dtype != DType::F32 && buffer.dtype != DType::BF16)
      return errorf("plan tensor '", buffer.name, "' is ", dtypeName(buffer.dtype),
                    "; the HF export writes f32 or bf16 tensors only");
    // BF16 values are written as F32, exactly (every BF16 value is an F32 value).
    cpu::FloatReader values(executor.view(static_cast<int32_t>(id)));
    for (HfTensor &tensor : toHfTensors(buffer.name, buffer.shape, values.data()))
      tensors.push_back(std::move(tensor));
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const HfTensor &a, const HfTensor &b) { return a.name < b.name; });

  // Greedy shards in name order, so that a layer's tensors mostly share a shard.
  std::vector<std::vector<SafetensorsTensorRef>> shards(1);
  uint64_t shardBytes = 0, totalBytes = 0;
  for (const HfTensor &tensor : tensors) {
    uint64_t bytes = tensor.data.size() * sizeof(float);
    if (options.maxShardBytes && shardBytes > 0 && shardBytes + bytes > options.maxShardBytes) {
      shards.emplace_back();
      shardBytes = 0;
    }
    shards.back().push_back(
        {tensor.name, SafetensorsDType::F32, tensor.shape, tensor.data.data(), bytes});
    shardBytes += bytes;
    totalBytes += bytes;
  }
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  if (!options.maxShardBytes) {
    DS_RETURN_IF_ERROR(writeSafetensors(outDir + "/model.safetensors", shards[0], metadata));
  } else {
    std::vector<std::pair<std::string, std::string>> weightMap;
    for (size_t k = 0; k < shards.size(); ++k) {
      char file[64];
      std::snprintf(file, sizeof file, "model-%05zu-of-%05zu.safetensors", k + 1, shards.size());
      DS_RETURN_IF_ERROR(writeSafetensors(outDir + "/" + file, shards[k], metadata));
      for (const SafetensorsTensorRef &ref : shards[k])
        weightMap.emplace_back(ref.name, file);
    }
    DS_RETURN_IF_ERROR(
        writeIndex(outDir + "/model.safetensors.index.json", totalBytes, weightMap));
  }
  if (options.configPath.empty())
    return Status::ok();
  Expected<FileBytes> config = FileBytes::open(options.configPath, FileBytes::Mode::Read);
  if (!config)
    return config.status();
  return writeFileAtomically(
      outDir + "/config.json",
      std::string_view(reinterpret_cast<const char *>(config->data()), config->size()));
}

} // namespace ds::rt
