#include "runtime/train/Eval.h"

#include "runtime/io/AtomicFile.h"
#include "runtime/io/FileBytes.h"
#include "runtime/io/Json.h"
#include "runtime/io/Safetensors.h"
#include "runtime/train/PlanSource.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;

namespace ds::rt {

namespace {

constexpr const char *kGradPrefix = "grad.";
constexpr const char *kMtpKey = "num_nextn_predict_layers";

Expected<std::string> readText(const std::string &path) {
  Expected<FileBytes> bytes = FileBytes::open(path, FileBytes::Mode::Read);
  if (!bytes)
    return bytes.status();
  return std::string(reinterpret_cast<const char *>(bytes->data()), bytes->size());
}

struct Ids {
  std::vector<int32_t> values;
  int64_t batch = 0, seq = 0;
};

Expected<Ids> readIds(const std::string &path) {
  Expected<SafetensorsFile> file = SafetensorsFile::open(path, {FileBytes::Mode::Read});
  if (!file)
    return file.status();
  const SafetensorsTensorInfo *info = file->find("input_ids");
  if (!info)
    return errorf(path, ": no tensor 'input_ids'");
  if (info->dtype != SafetensorsDType::I32 || info->shape.size() != 2 || info->shape[0] <= 0 ||
      info->shape[1] <= 0)
    return errorf(path, ": 'input_ids' must be I32 [batch, seq] with batch, seq > 0, got ",
                  safetensorsDTypeName(info->dtype), " of rank ", info->shape.size());
  Expected<ByteSpan> bytes = file->bytes("input_ids");
  if (!bytes)
    return bytes.status();
  Ids ids;
  ids.batch = info->shape[0];
  ids.seq = info->shape[1];
  ids.values.resize(info->numElements());
  std::memcpy(ids.values.data(), bytes->data, bytes->size);
  return ids;
}

/// A folder under /tmp removed with everything in it when this goes out of scope.
class TemporaryFolder {
public:
  static Expected<TemporaryFolder> create() {
    char pattern[] = "/tmp/ds-eval-XXXXXX";
    if (!::mkdtemp(pattern))
      return errorf("cannot create a temporary folder: ", std::strerror(errno));
    return TemporaryFolder(pattern);
  }
  TemporaryFolder(TemporaryFolder &&other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  TemporaryFolder(const TemporaryFolder &) = delete;
  TemporaryFolder &operator=(const TemporaryFolder &) = delete;
  ~TemporaryFolder() {
    std::error_code ignored;
    if (!path_.empty())
      fs::remove_all(path_, ignored);
  }
  const std::string &path() const { return path_; }

private:
  explicit TemporaryFolder(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

Expected<Plan> compileEvalPlan(const HfEvalRequest &request, const Ids &ids) {
  std::string configPath = request.hfDir + "/config.json";
  Expected<std::string> config = readText(configPath);
  if (!config)
    return config.status();
  Expected<std::string> withoutMtp = withoutMtpLayers(*config);
  if (!withoutMtp)
    return errorf(configPath, ": ", withoutMtp.status().message());
  Expected<TemporaryFolder> folder = TemporaryFolder::create();
  if (!folder)
    return folder.status();
  if (*withoutMtp != *config) {
    configPath = folder->path() + "/config.json";
    DS_RETURN_IF_ERROR(writeFileAtomically(configPath, *withoutMtp));
  }
  PlanRequest plan;
  plan.path = configPath;
  plan.batch = ids.batch;
  plan.seq = ids.seq;
  plan.toolDir = request.toolDir;
  plan.compileArgs = {"--mode", request.gradients ? "gradients" : "eval", "--balance-alpha", "0"};
  return loadTrainingPlan(plan);
}

/// The plan's binding of `role`/`name`, checked against the expected shape.
Expected<int32_t> binding(const Plan &plan, BufferRole role, const std::string &name,
                          DType dtype, const std::vector<int64_t> &shape) {
  int32_t id = plan.findBuffer(role, name);
  if (id < 0)
    return errorf("the eval plan has no ", bufferRoleName(role), " '", name, "'");
  const PlanBuffer &buffer = plan.buffers[id];
  if (buffer.dtype != dtype || buffer.shape != shape) {
    TensorView expected{nullptr, dtype, shape}, found{nullptr, buffer.dtype, buffer.shape};
    return errorf("the eval plan's ", bufferRoleName(role), " '", name, "' is ",
                  found.shapeString(), ", expected ", expected.shapeString());
  }
  return id;
}

Status checkIds(const Ids &ids, int64_t vocab, const std::string &path) {
  for (size_t i = 0; i < ids.values.size(); ++i)
    if (ids.values[i] < 0 || ids.values[i] >= vocab)
      return errorf(path, ": input_ids[", i / ids.seq, "][", i % ids.seq, "] = ", ids.values[i],
                    " is outside the vocabulary [0, ", vocab, ")");
  return Status::ok();
}

} // namespace

std::vector<int32_t> evalTokens(const std::vector<int32_t> &ids, int64_t batch, int64_t seq,
                                int64_t mtpDepth) {
  int64_t width = seq + 1 + mtpDepth;
  std::vector<int32_t> tokens(static_cast<size_t>(batch * width), -100);
  for (int64_t b = 0; b < batch; ++b)
    std::memcpy(&tokens[b * width], &ids[b * seq], static_cast<size_t>(seq) * sizeof(int32_t));
  return tokens;
}

Expected<std::string> withoutMtpLayers(const std::string &config) {
  Expected<JsonValue> json = parseJson(config);
  if (!json)
    return json.status();
  if (!json->isObject())
    return Status::error("the config is not a JSON object");
  const JsonValue *depth = json->find(kMtpKey);
  if (!depth || (depth->isInteger() && depth->asInteger() == 0))
    return config;
  if (!depth->isInteger() || depth->asInteger() < 0)
    return errorf("'", kMtpKey, "' must be a non-negative integer");
  // Replace the number's text in place: the rest of the file stays byte for byte.
  size_t begin = depth->offset(), end = begin;
  while (end < config.size() && config[end] >= '0' && config[end] <= '9')
    ++end;
  return config.substr(0, begin) + "0" + config.substr(end);
}

Expected<HfEvalResult> runHfEval(const HfEvalRequest &request, const KernelResolver &resolve) {
  Expected<Ids> ids = readIds(request.inputPath);
  if (!ids)
    return ids.status();
  Expected<Plan> compiled = compileEvalPlan(request, *ids);
  if (!compiled)
    return compiled.status();
  const Plan &plan = *compiled;
  DS_RETURN_IF_ERROR(checkIds(*ids, plan.vocabSize, request.inputPath));
  Expected<int32_t> tokens = binding(plan, BufferRole::Input, "tokens", DType::I32,
                                     {ids->batch, ids->seq + 1 + plan.mtpDepth});
  if (!tokens)
    return tokens.status();
  Expected<int32_t> logits = binding(plan, BufferRole::Output, "logits", DType::F32,
                                     {ids->batch, ids->seq, plan.vocabSize});
  if (!logits)
    return logits.status();
  Expected<int32_t> loss = binding(plan, BufferRole::Output, "loss", DType::F32, {});
  if (!loss)
    return loss.status();
  for (const PlanBuffer &buffer : plan.buffers) {
    if (buffer.role == BufferRole::Input && buffer.name != "tokens")
      return errorf("the eval plan expects input '", buffer.name,
                    "', which an evaluation does not give: is it a training plan?");
    if (request.gradients && buffer.role == BufferRole::Param &&
        plan.findBuffer(BufferRole::Output, kGradPrefix + buffer.name) < 0)
      return errorf("the gradients plan has no output '", kGradPrefix, buffer.name, "'");
  }

  Expected<Executor> executor = Executor::create(compiled.take(), resolve);
  if (!executor)
    return executor.status();
  HfEvalResult result;
  result.batch = ids->batch;
  result.seq = ids->seq;
  Expected<HfImportSummary> imported = importHfWeights(*executor, request.hfDir);
  if (!imported)
    return imported.status();
  result.import = imported.take();
  const Plan &bound = executor->plan();
  std::vector<int32_t> window = evalTokens(ids->values, ids->batch, ids->seq, bound.mtpDepth);
  std::memcpy(executor->view(*tokens).data, window.data(), window.size() * sizeof(int32_t));
  DS_RETURN_IF_ERROR(executor->run());
  result.loss = *executor->view(*loss).as<float>();
  if (!std::isfinite(result.loss))
    return errorf("the loss is not finite (", result.loss, ")");

  // Outputs by name; gradients split into their HF tensors.
  std::vector<SafetensorsTensorRef> refs;
  std::vector<HfTensor> gradients;
  for (size_t id = 0; id < bound.buffers.size(); ++id) {
    const PlanBuffer &buffer = bound.buffers[id];
    if (buffer.role != BufferRole::Output)
      continue;
    const TensorView &view = executor->view(static_cast<int32_t>(id));
    if (buffer.name.rfind(kGradPrefix, 0) != 0) {
      refs.push_back({buffer.name, fromRuntimeDType(buffer.dtype), buffer.shape, view.data,
                      static_cast<size_t>(view.sizeInBytes())});
      continue;
    }
    if (!request.gradients)
      continue;
    if (buffer.dtype != DType::F32)
      return errorf("gradient '", buffer.name, "' is ", dtypeName(buffer.dtype), ", not f32");
    for (HfTensor &tensor : toHfTensors(buffer.name.substr(std::strlen(kGradPrefix)),
                                        buffer.shape, view.as<float>(), kGradPrefix))
      gradients.push_back(std::move(tensor));
  }
  for (const HfTensor &tensor : gradients)
    refs.push_back({tensor.name, SafetensorsDType::F32, tensor.shape, tensor.data.data(),
                    tensor.data.size() * sizeof(float)});
  result.gradientTensors = static_cast<int64_t>(gradients.size());
  DS_RETURN_IF_ERROR(writeSafetensors(request.outputPath, refs));
  return result;
}

} // namespace ds::rt
