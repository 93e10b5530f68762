#include "runtime/train/Checkpoint.h"

#include "runtime/io/AtomicFile.h"
#include "runtime/io/Directory.h"
#include "runtime/io/FileBytes.h"
#include "runtime/io/Safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ds::rt {

namespace {

constexpr const char *kStepPrefix = "step-";
constexpr const char *kTemporaryPrefix = ".tmp-";
constexpr const char *kChecksumPrefix = "ds.checksum.";

/// Which file of a checkpoint holds a persistent buffer of this role.
const char *fileForRole(BufferRole role) {
  if (role == BufferRole::Param || role == BufferRole::Buffer)
    return kCheckpointModelFile;
  if (role == BufferRole::State)
    return kCheckpointOptimizerFile;
  return nullptr;
}

std::string join(const std::string &dir, const std::string &name) { return dir + "/" + name; }

Status writeTensorFile(const std::string &path, const Executor &executor, const char *file) {
  const Plan &plan = executor.plan();
  std::vector<SafetensorsTensorRef> tensors;
  std::map<std::string, std::string> metadata;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &buffer = plan.buffers[i];
    const char *target = fileForRole(buffer.role);
    if (!target || std::strcmp(target, file) != 0)
      continue;
    const TensorView &view = executor.view(static_cast<int32_t>(i));
    size_t bytes = static_cast<size_t>(view.sizeInBytes());
    tensors.push_back(
        {buffer.name, fromRuntimeDType(buffer.dtype), buffer.shape, view.data, bytes});
    metadata[kChecksumPrefix + buffer.name] = checksumHex(checksum64(view.data, bytes));
  }
  return writeSafetensors(path, tensors, metadata);
}

Status removeTree(const std::string &path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error)
    return errorf("cannot remove '", path, "': ", error.message());
  return Status::ok();
}

// Leftovers of writers that died mid-write; no reader ever looks at them.
Status removeTemporaries(const std::string &root) {
  std::error_code error;
  std::vector<std::string> stale;
  for (const fs::directory_entry &entry : fs::directory_iterator(root, error))
    if (entry.path().filename().string().rfind(kTemporaryPrefix, 0) == 0)
      stale.push_back(entry.path().string());
  if (error)
    return errorf("cannot list checkpoint folder '", root, "': ", error.message());
  for (const std::string &path : stale)
    DS_RETURN_IF_ERROR(removeTree(path));
  return Status::ok();
}

Expected<std::string> readWholeFile(const std::string &path) {
  Expected<FileBytes> bytes = FileBytes::open(path, FileBytes::Mode::Read);
  if (!bytes)
    return bytes.status();
  return std::string(reinterpret_cast<const char *>(bytes->data()), bytes->size());
}

// Loads the buffers whose role `file` holds; the file may hold no other tensor.
Status loadTensorFile(const std::string &folder, const char *file, Executor &executor) {
  std::string path = join(folder, file);
  Expected<SafetensorsFile> tensors = SafetensorsFile::open(path);
  if (!tensors)
    return errorf(tensors.status().message(), " (truncated or corrupted checkpoint?)");
  const Plan &plan = executor.plan();
  std::set<std::string> used;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &buffer = plan.buffers[i];
    const char *target = fileForRole(buffer.role);
    if (!target || std::strcmp(target, file) != 0)
      continue;
    const SafetensorsTensorInfo *info = tensors->find(buffer.name);
    if (!info)
      return errorf(path, ": no tensor '", buffer.name, "', which this plan's ",
                    bufferRoleName(buffer.role), " needs (checkpoint of another model?)");
    const TensorView &view = executor.view(static_cast<int32_t>(i));
    SafetensorsDType dtype = fromRuntimeDType(buffer.dtype);
    if (info->dtype != dtype || info->shape != buffer.shape) {
      TensorView saved{nullptr, buffer.dtype, info->shape};
      return errorf(path, ": tensor '", buffer.name, "' is ", safetensorsDTypeName(info->dtype),
                    " ", saved.shapeString(), "; this plan has ", view.shapeString());
    }
    Expected<ByteSpan> bytes = tensors->bytes(buffer.name);
    if (!bytes)
      return bytes.status();
    auto expected = tensors->metadata().find(kChecksumPrefix + buffer.name);
    uint64_t want = 0;
    if (expected == tensors->metadata().end() || !parseChecksumHex(expected->second, want))
      return errorf(path, ": no valid checksum for tensor '", buffer.name,
                    "' in the metadata (not written by ds-train, or corrupted)");
    if (checksum64(bytes->data, bytes->size) != want)
      return errorf(path, ": tensor '", buffer.name,
                    "' does not match its checksum (corrupted checkpoint)");
    std::memcpy(view.data, bytes->data, bytes->size);
    used.insert(buffer.name);
  }
  for (const SafetensorsTensorInfo &info : tensors->tensors())
    if (!used.count(info.name))
      return errorf(path, ": tensor '", info.name, "' is not ",
                    std::strcmp(file, kCheckpointModelFile) == 0 ? "a parameter or buffer"
                                                                 : "optimizer state",
                    " of this plan (checkpoint of another model?)");
  return Status::ok();
}

} // namespace

std::string checkpointFolderName(int64_t step) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%06lld", static_cast<long long>(step));
  return kStepPrefix + std::string(digits);
}

bool parseCheckpointFolderName(const std::string &name, int64_t &step) {
  std::string digits = name.substr(0, 5) == kStepPrefix ? name.substr(5) : "";
  if (digits.size() < 6 || digits.size() > 18 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  step = std::stoll(digits);
  return checkpointFolderName(step) == name;
}

Expected<std::vector<std::pair<int64_t, std::string>>> listCheckpoints(const std::string &root) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code error;
  if (!fs::exists(root, error))
    return found;
  for (const fs::directory_entry &entry : fs::directory_iterator(root, error)) {
    int64_t step;
    if (entry.is_directory() && parseCheckpointFolderName(entry.path().filename().string(), step))
      found.emplace_back(step, entry.path().string());
  }
  if (error)
    return errorf("cannot list checkpoint folder '", root, "': ", error.message());
  std::sort(found.begin(), found.end());
  return found;
}

Expected<std::string> writeCheckpoint(const std::string &root, const Executor &executor,
                                      const TrainerState &state, int64_t keep) {
  if (keep < 1)
    return errorf("cannot keep ", keep, " checkpoints; keep at least 1");
  std::error_code error;
  fs::create_directories(root, error);
  if (error)
    return errorf("cannot create checkpoint folder '", root, "': ", error.message());
  DS_RETURN_IF_ERROR(removeTemporaries(root));

  std::string name = checkpointFolderName(state.step);
  std::string folder = join(root, name);
  std::string temporary = join(root, kTemporaryPrefix + name + "-" + std::to_string(::getpid()));
  if (!fs::create_directory(temporary, error))
    return errorf("cannot create '", temporary,
                  "': ", error ? error.message() : std::string("it already exists"));
  Status written =
      writeTensorFile(join(temporary, kCheckpointModelFile), executor, kCheckpointModelFile);
  if (written)
    written = writeTensorFile(join(temporary, kCheckpointOptimizerFile), executor,
                              kCheckpointOptimizerFile);
  if (written)
    written = writeFileAtomically(join(temporary, kCheckpointStateFile), encodeTrainerState(state));
  if (written)
    written = renameDirectoryDurably(temporary, folder);
  if (!written) {
    // Best effort: a leftover temporary folder is removed by the next write anyway.
    (void)removeTree(temporary);
    return written;
  }
  DS_RETURN_IF_ERROR(writeFileAtomically(join(root, kCheckpointLatestFile), name + "\n"));

  Expected<std::vector<std::pair<int64_t, std::string>>> all = listCheckpoints(root);
  if (!all)
    return all.status();
  // Oldest first; never the one just written, which `latest` names. Each is first renamed
  // to a temporary name, so that a kill during the removal leaves no step folder with
  // files missing.
  for (size_t i = 0; i + static_cast<size_t>(keep) < all->size(); ++i) {
    const std::string &old = (*all)[i].second;
    if (old == folder)
      continue;
    std::string doomed =
        join(root, kTemporaryPrefix + fs::path(old).filename().string() + "-removed");
    DS_RETURN_IF_ERROR(renameDirectoryDurably(old, doomed));
    DS_RETURN_IF_ERROR(removeTree(doomed));
  }
  DS_RETURN_IF_ERROR(syncDirectory(root));
  return folder;
}

Expected<CheckpointLocation> locateCheckpoint(const std::string &path) {
  std::error_code error;
  if (!fs::is_directory(path, error))
    return errorf("checkpoint '", path, "' is not a folder",
                  fs::exists(path, error) ? "" : " (no such file or directory)");
  if (fs::exists(join(path, kCheckpointStateFile), error))
    return CheckpointLocation{parentDirectory(path), path};
  // A step folder exists only once all of it was written and synced (its rename is the
  // commit), so the newest one is what `latest` names, or newer when the writer was
  // killed between the rename and the update of `latest`.
  Expected<std::vector<std::pair<int64_t, std::string>>> all = listCheckpoints(path);
  if (!all)
    return all.status();
  if (all->empty())
    return errorf("'", path, "' holds no checkpoint: neither ", kCheckpointStateFile,
                  " (a step folder) nor any step-NNNNNN folder (a checkpoint root)");
  return CheckpointLocation{path, all->back().second};
}

Expected<TrainerState> readTrainerState(const std::string &folder) {
  std::string path = join(folder, kCheckpointStateFile);
  Expected<std::string> text = readWholeFile(path);
  if (!text)
    return text.status();
  Expected<TrainerState> state = parseTrainerState(*text, path);
  if (!state)
    return state.status();
  int64_t named;
  std::string base = fs::path(folder).filename().string();
  if (parseCheckpointFolderName(base, named) && named != state->step)
    return errorf(path, ": records step ", state->step, " but its folder is '", base, "'");
  return state;
}

Status loadCheckpointTensors(const std::string &folder, Executor &executor) {
  DS_RETURN_IF_ERROR(loadTensorFile(folder, kCheckpointModelFile, executor));
  return loadTensorFile(folder, kCheckpointOptimizerFile, executor);
}

} // namespace ds::rt
