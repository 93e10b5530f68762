#include "runtime/train/PlanSource.h"

#include "runtime/plan/PlanReader.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tuple>
#include <unistd.h>
#include <vector>

extern char **environ;

namespace ds::rt {

namespace {

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Runs `argv` with inherited stdio (the compiler's own messages reach the user) and
/// returns an error unless it exits with status 0.
Status runTool(const std::vector<std::string> &argv) {
  std::vector<char *> args;
  for (const std::string &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int err = posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (err != 0)
    return errorf("cannot run ", argv[0], ": ", std::strerror(err));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return errorf("cannot wait for ", argv[0], ": ", std::strerror(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return Status::ok();
  if (WIFEXITED(status))
    return errorf(argv[0], " failed with exit status ", WEXITSTATUS(status));
  return errorf(argv[0], " was killed by signal ", WTERMSIG(status));
}

Expected<Plan> compileSpec(const PlanRequest &request, int64_t batch, int64_t seq,
                           const PlanCheckOptions &options) {
  std::string compiler = request.toolDir + "/ds-compile";
  if (::access(compiler.c_str(), X_OK) != 0)
    return errorf("cannot compile ", request.path, ": no executable ds-compile next to ",
                  "ds-train (looked for ", compiler, ")");
  char folder[] = "/tmp/ds-train-XXXXXX";
  if (!::mkdtemp(folder))
    return errorf("cannot create a temporary folder: ", std::strerror(errno));
  std::string planPath = std::string(folder) + "/step.dsplan";
  std::vector<std::string> argv = {compiler, request.path, "--batch", std::to_string(batch),
                                   "--seq", std::to_string(seq)};
  argv.insert(argv.end(), request.compileArgs.begin(), request.compileArgs.end());
  argv.insert(argv.end(), {"-o", planPath});
  Status compiled = runTool(argv);
  if (!compiled) {
    std::remove(planPath.c_str());
    ::rmdir(folder);
    return errorf("cannot compile ", request.path, ": ", compiled.message());
  }
  Expected<Plan> plan = readPlanFile(planPath, options);
  std::remove(planPath.c_str());
  ::rmdir(folder);
  if (!plan)
    return errorf(request.path,
                  ": the plan ds-compile made is not usable: ", plan.status().message());
  return plan;
}

Status checkAgreement(const Plan &plan, const PlanRequest &request) {
  for (auto [flag, asked, compiled] : {std::make_tuple("batch", request.batch, plan.batch),
                                       std::make_tuple("seq", request.seq, plan.seq)}) {
    if (asked != 0 && asked != compiled)
      return errorf(request.path, ": plan was compiled for ", flag, " ", compiled, " but --", flag,
                    " is ", asked, "; recompile with ds-compile SPEC --", flag, " ", asked,
                    ", train the spec directly, or drop --", flag);
  }
  return Status::ok();
}

} // namespace

Expected<std::string> executableDir() {
  std::vector<char> buffer(4096);
  ssize_t n = ::readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  if (n <= 0)
    return errorf("cannot find the running executable: ", std::strerror(errno));
  std::string path(buffer.data(), static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

Expected<Plan> loadTrainingPlan(const PlanRequest &request) {
  struct stat info;
  if (::stat(request.path.c_str(), &info) != 0)
    return errorf(request.path, ": ", std::strerror(errno));
  bool isSpec = endsWith(request.path, ".json");
  if (!isSpec && !endsWith(request.path, ".dsplan"))
    return errorf(request.path, ": expected a compiled plan (.dsplan) or a model spec (.json)");
  PlanCheckOptions options;
  options.kernelExists = [](const std::string &kernel) {
    return lookupKernel(Backend::Cpu, kernel) != nullptr;
  };
  Expected<Plan> plan =
      isSpec ? compileSpec(request, request.batch ? request.batch : request.defaultBatch,
                           request.seq ? request.seq : request.defaultSeq, options)
             : readPlanFile(request.path, options);
  if (!plan)
    return plan.status();
  DS_RETURN_IF_ERROR(checkAgreement(*plan, request));
  return plan;
}

} // namespace ds::rt
