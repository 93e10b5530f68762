//===- ds-train.cpp - train a model from a plan or a spec on the CPU ------===//
//
//   ds-train PLAN.dsplan|SPEC.json [--data FILE] [--steps N] [--batch B] [--seq S]
//            [--lr LR] [--warmup N] [--min-lr-ratio R] [--seed N] [--metrics FILE]
//            [--log-every N] [--checkpoint-dir DIR] [--checkpoint-every N]
//            [--keep-checkpoints K] [--resume DIR] [--stop-after N] [--device cpu|cuda]
//   ds-train --make-data INPUT.txt -o OUTPUT.u16|.u32
//   ds-train --eval --init HF_DIR --input IDS.safetensors --output OUT.safetensors [--grads]
//
// The logic lives in runtime/train; this file parses flags, shows progress, and turns
// SIGINT/SIGTERM into "checkpoint after this step, then stop" while checkpoints are on.
//
//===----------------------------------------------------------------------===//
#include "runtime/train/Checkpoint.h"
#include "runtime/train/Eval.h"
#include "runtime/train/PlanSource.h"
#include "runtime/train/TokenData.h"
#include "runtime/train/TrainJob.h"
#ifdef DS_TRAIN_WITH_CUDA
#include "runtime/train/CudaStepDevice.h"
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <unistd.h>

using namespace ds::rt;

namespace {

/// The class of a kernel in the profile summary (issue 6's breakdown): dense GEMMs,
/// grouped (expert) GEMMs, attention, routing and token permutation, the optimizer, and
/// everything else (norms, RoPE, SwiGLU, adds, casts, embedding, the loss).
[[maybe_unused]] const char *kernelClass(const std::string &kernel) {
  auto startsWith = [&](const char *prefix) { return kernel.rfind(prefix, 0) == 0; };
  if (startsWith("grouped_linear"))
    return "grouped GEMM";
  if (startsWith("linear"))
    return "GEMM";
  if (startsWith("attention"))
    return "attention";
  if (startsWith("router") || startsWith("dispatch") || startsWith("combine") ||
      startsWith("balance_loss"))
    return "router/permute";
  if (startsWith("adamw") || startsWith("bias_update") || kernel == "grad_norm")
    return "optimizer";
  return "elementwise/other";
}

const char *const kUsage =
    "usage: ds-train PLAN.dsplan|SPEC.json [options]\n"
    "       ds-train --make-data INPUT.txt -o OUTPUT.u16|OUTPUT.u32\n"
    "       ds-train --eval --init HF_DIR --input IDS.safetensors --output OUT.safetensors\n"
    "                [--grads]\n"
    "options:\n"
    "  --data FILE          tokens: .u16/.u32 (raw little-endian ids) or .txt (bytes);\n"
    "                       default: the corpus in data/corpus.txt\n"
    "  --steps N            optimizer steps (default 200)\n"
    "  --batch B, --seq S   shape a spec is compiled for (default 4 and 64); a plan must\n"
    "                       match them when given\n"
    "  --lr LR              peak learning rate (default 3e-3)\n"
    "  --warmup N           linear warmup steps (default 20)\n"
    "  --min-lr-ratio R     cosine decay floor as a fraction of --lr (default 0.1)\n"
    "  --seed N             seeds initialisation and data order (default 0)\n"
    "  --metrics FILE       one JSON line per step\n"
    "  --log-every N        progress line interval when stdout is not a terminal (default 10)\n"
    "  --precision P        fp32 (default), bf16 or fp8, when compiling a spec\n"
    "                       (ds-compile --precision)\n"
    "  --adam-moments T     f32 (default) or bf16 AdamW moments, when compiling a spec\n"
    "  --activations T      f32 (default) or bf16 activations, when compiling a spec\n"
    "  --params T           f32 (default) or bf16 parameters, when compiling a spec\n"
    "  --mtp-depth N        MTP modules (default: the spec's), when compiling a spec\n"
    "  --bias-update-gamma G  router-bias update speed when compiling a spec (default 0.001)\n"
    "  --device D           cpu (default) or cuda (GPU 0; a build with CUDA only); with\n"
    "                       DS_CUDA_PROFILE=1 cuda prints the time of each kernel name\n"
    "                       and class; steps 2.. replay one CUDA graph (DS_CUDA_GRAPH=0:\n"
    "                       launch kernel by kernel)\n"
    "checkpoints (runtime/train/README.md):\n"
    "  --checkpoint-dir DIR write checkpoints to DIR/step-NNNNNN, DIR/latest names the newest;\n"
    "                       one is written after the last step, and on SIGINT/SIGTERM\n"
    "  --checkpoint-every N also after every N-th step\n"
    "  --keep-checkpoints K keep the K newest (default 2)\n"
    "  --resume DIR         continue the run of a checkpoint (a root: its latest, or one\n"
    "                       step folder) with the same plan, data and options; checkpoints\n"
    "                       go on into its root unless --checkpoint-dir says otherwise, and\n"
    "                       --metrics is appended to\n"
    "  --stop-after N       stop after step N of the --steps schedule (checkpointed)\n"
    "evaluation of HF weights (runtime/train/Eval.h):\n"
    "  --eval               run HF_DIR's model once on input_ids (i32 [batch, seq]) and write\n"
    "                       logits, loss and the other outputs to --output\n"
    "  --init HF_DIR        config.json and model.safetensors (or a sharded index)\n"
    "  --grads              also write grad.<HF name> for every parameter\n";

struct Options {
  std::string input;
  std::string data;
  std::string output;
  bool makeData = false;
  bool eval = false, grads = false;
  std::string init, evalInput, evalOutput;
  /// ds-compile options for a spec (flag, value) pairs, passed through as given.
  std::vector<std::string> compileArgs;
  int64_t steps = 200, batch = 0, seq = 0, warmup = 20, logEvery = 10;
  double lr = 3e-3, minLrRatio = 0.1;
  uint64_t seed = 0;
  std::string metrics;
  std::string device = "cpu";
  std::string checkpointDir, resume;
  int64_t checkpointEvery = 0, keepCheckpoints = 2, stopAfter = 0;
};

// The signal that asked the run to stop, 0 while none did.
volatile std::sig_atomic_t stopSignal = 0;

extern "C" void requestStop(int signal) { stopSignal = signal; }

// SA_RESETHAND: a second Ctrl-C kills at once, for when a step takes too long to wait for.
void stopOnSignals() {
  struct sigaction action = {};
  action.sa_handler = requestStop;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

Status parseInt(const std::string &flag, const std::string &text, int64_t &value) {
  errno = 0;
  char *end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    return errorf(flag, " expects an integer, got '", text, "'");
  value = v;
  return Status::ok();
}

Status parseReal(const std::string &flag, const std::string &text, double &value) {
  errno = 0;
  char *end = nullptr;
  value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value))
    return errorf(flag, " expects a number, got '", text, "'");
  return Status::ok();
}

Status parseArgs(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string &out) -> Status {
      if (i + 1 >= argc)
        return errorf(arg, " needs a value");
      out = argv[++i];
      return Status::ok();
    };
    std::string text;
    if (arg == "--make-data") {
      o.makeData = true;
      DS_RETURN_IF_ERROR(value(o.input));
    } else if (arg == "--eval" || arg == "--grads") {
      (arg == "--eval" ? o.eval : o.grads) = true;
    } else if (arg == "--init") {
      DS_RETURN_IF_ERROR(value(o.init));
    } else if (arg == "--input") {
      DS_RETURN_IF_ERROR(value(o.evalInput));
    } else if (arg == "--output") {
      DS_RETURN_IF_ERROR(value(o.evalOutput));
    } else if (arg == "-o") {
      DS_RETURN_IF_ERROR(value(o.output));
    } else if (arg == "--data") {
      DS_RETURN_IF_ERROR(value(o.data));
    } else if (arg == "--metrics") {
      DS_RETURN_IF_ERROR(value(o.metrics));
    } else if (arg == "--device") {
      DS_RETURN_IF_ERROR(value(o.device));
      if (o.device != "cpu" && o.device != "cuda")
        return errorf("--device expects cpu or cuda, got '", o.device, "'");
    } else if (arg == "--checkpoint-dir") {
      DS_RETURN_IF_ERROR(value(o.checkpointDir));
    } else if (arg == "--resume") {
      DS_RETURN_IF_ERROR(value(o.resume));
    } else if (int64_t *field = arg == "--steps"              ? &o.steps
                                : arg == "--batch"            ? &o.batch
                                : arg == "--seq"              ? &o.seq
                                : arg == "--warmup"           ? &o.warmup
                                : arg == "--log-every"        ? &o.logEvery
                                : arg == "--checkpoint-every" ? &o.checkpointEvery
                                : arg == "--keep-checkpoints" ? &o.keepCheckpoints
                                : arg == "--stop-after"       ? &o.stopAfter
                                                              : nullptr) {
      DS_RETURN_IF_ERROR(value(text));
      DS_RETURN_IF_ERROR(parseInt(arg, text, *field));
      bool mayBeZero = arg == "--warmup";
      if (mayBeZero ? *field < 0 : *field <= 0)
        return errorf(arg, " must be ", mayBeZero ? "non-negative" : "positive", ", got ", *field);
    } else if (arg == "--seed") {
      DS_RETURN_IF_ERROR(value(text));
      int64_t seed;
      DS_RETURN_IF_ERROR(parseInt(arg, text, seed));
      if (seed < 0)
        return errorf("--seed must be non-negative, got ", seed);
      o.seed = static_cast<uint64_t>(seed);
    } else if (arg == "--precision" || arg == "--bias-update-gamma" ||
               arg == "--adam-moments" || arg == "--activations" || arg == "--params" ||
               arg == "--mtp-depth") {
      DS_RETURN_IF_ERROR(value(text));
      o.compileArgs.push_back(arg);
      o.compileArgs.push_back(text);
    } else if (arg == "--lr" || arg == "--min-lr-ratio") {
      DS_RETURN_IF_ERROR(value(text));
      DS_RETURN_IF_ERROR(parseReal(arg, text, arg == "--lr" ? o.lr : o.minLrRatio));
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (!arg.empty() && arg[0] == '-') {
      return errorf("unknown option ", arg);
    } else if (o.input.empty()) {
      o.input = arg;
    } else {
      return errorf("unexpected argument '", arg, "'");
    }
  }
  bool evalFlags = o.grads || !o.init.empty() || !o.evalInput.empty() || !o.evalOutput.empty();
  if (evalFlags && !o.eval)
    return Status::error("--init, --input, --output and --grads belong to --eval");
  if (o.eval) {
    if (!o.input.empty() || o.makeData)
      return Status::error("--eval takes no plan, spec or --make-data: the model is --init's");
    if (o.init.empty() || o.evalInput.empty() || o.evalOutput.empty())
      return Status::error("--eval needs --init HF_DIR, --input IDS and --output OUT");
    return Status::ok();
  }
  if (o.input.empty())
    return Status::error("missing PLAN.dsplan or SPEC.json");
  if (o.makeData && o.output.empty())
    return Status::error("--make-data needs -o OUTPUT.u16 or OUTPUT.u32");
  if (o.checkpointEvery > 0 && o.checkpointDir.empty() && o.resume.empty())
    return Status::error("--checkpoint-every needs --checkpoint-dir (or --resume)");
  return Status::ok();
}

Status evaluate(const Options &o) {
  Expected<std::string> toolDir = executableDir();
  if (!toolDir)
    return toolDir.status();
  HfEvalRequest request{o.init, o.evalInput, o.evalOutput, o.grads, *toolDir};
  Expected<HfEvalResult> result = runHfEval(
      request, [](const std::string &kernel) { return lookupKernel(Backend::Cpu, kernel); });
  if (!result)
    return result.status();
  const HfImportSummary &import = result->import;
  for (const std::string &buffer : import.zeroBuffers)
    std::printf("ds-train: %s is not in the checkpoint; it stays zero\n", buffer.c_str());
  if (import.skippedMtpTensors)
    std::printf("ds-train: skipped %lld MTP tensors the HF model does not use\n",
                static_cast<long long>(import.skippedMtpTensors));
  if (!import.unusedTensors.empty()) {
    std::fprintf(stderr, "ds-train: warning: %zu checkpoint tensors are not used:",
                 import.unusedTensors.size());
    for (size_t i = 0; i < import.unusedTensors.size() && i < 8; ++i)
      std::fprintf(stderr, " %s", import.unusedTensors[i].c_str());
    std::fprintf(stderr, "%s\n", import.unusedTensors.size() > 8 ? " ..." : "");
  }
  std::printf("ds-train: eval of %s: batch %lld, seq %lld, %lld HF tensors loaded, loss %.8f%s, "
              "wrote %s\n",
              o.init.c_str(), static_cast<long long>(result->batch),
              static_cast<long long>(result->seq), static_cast<long long>(import.tensorsRead),
              result->loss,
              o.grads ? (", " + std::to_string(result->gradientTensors) + " gradients").c_str()
                      : "",
              o.evalOutput.c_str());
  return Status::ok();
}

Status makeData(const Options &o) {
  std::ifstream file(o.input, std::ios::binary);
  if (!file)
    return errorf(o.input, ": cannot open: ", std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  DS_RETURN_IF_ERROR(writeTokenFile(tokenizeBytes(text), o.output));
  std::printf("wrote %zu byte tokens to %s\n", text.size(), o.output.c_str());
  return Status::ok();
}

// `exitCode` is set when the run stops early on a signal (128 + the signal, as a shell
// reports a process the signal killed), so a job script sees it did not finish.
Status train(const Options &o, int &exitCode) {
  Expected<std::string> toolDir = executableDir();
  if (!toolDir)
    return toolDir.status();
  PlanRequest request;
  request.path = o.input;
  request.batch = o.batch;
  request.seq = o.seq;
  request.toolDir = *toolDir;
  bool isSpec = o.input.size() >= 5 && o.input.compare(o.input.size() - 5, 5, ".json") == 0;
  if (!o.compileArgs.empty() && !isSpec)
    return errorf(o.compileArgs[0], " applies when ds-train compiles a spec; ", o.input,
                  " is a plan: compile it with ds-compile ", o.compileArgs[0], " instead");
  request.compileArgs = o.compileArgs;
  Expected<Plan> plan = loadTrainingPlan(request);
  if (!plan)
    return plan.status();

  std::string dataPath = o.data.empty() ? DS_DEFAULT_CORPUS : o.data;
  Expected<std::vector<int32_t>> tokens = loadTokens(dataPath);
  if (!tokens)
    return tokens.status();

  TrainOptions options;
  options.schedule = {o.lr, o.warmup, o.steps, o.minLrRatio};
  options.seed = o.seed;
  options.metricsPath = o.metrics;
  options.planName = o.input;
  options.checkpointDir = o.checkpointDir;
  options.checkpointEvery = o.checkpointEvery;
  options.keepCheckpoints = o.keepCheckpoints;
  options.resumeFrom = o.resume;
  options.stopAfter = o.stopAfter;
  if (!o.resume.empty() && o.checkpointDir.empty()) {
    Expected<CheckpointLocation> location = locateCheckpoint(o.resume);
    if (!location)
      return location.status();
    options.checkpointDir = location->root;
  }
  if (!options.checkpointDir.empty()) {
    stopOnSignals();
    options.stopRequested = [] { return stopSignal != 0; };
  }
  [[maybe_unused]] bool profile = false; // read by CUDA builds only
  if (o.device == "cuda") {
#ifdef DS_TRAIN_WITH_CUDA
    const char *profileVar = std::getenv("DS_CUDA_PROFILE");
    profile = profileVar && std::string(profileVar) == "1";
    const char *graphVar = std::getenv("DS_CUDA_GRAPH");
    bool graphs = !(graphVar && std::string(graphVar) == "0");
    Expected<std::shared_ptr<StepDevice>> device = createCudaStepDevice(profile, graphs);
    if (!device)
      return device.status();
    options.device = device.take();
    Expected<std::string> name = cudaDeviceDescription();
    std::printf("ds-train: device cuda: %s\n", name ? name->c_str() : name.status().message().c_str());
#else
    return Status::error("--device cuda: this ds-train was built without CUDA (configure "
                         "with the CUDA toolkit found to get the CUDA backend)");
#endif
  }
  std::printf("ds-train: %s (%s), batch %lld, seq %lld, %zu tokens from %s\n", o.input.c_str(),
              plan->modelType.c_str(), static_cast<long long>(plan->batch),
              static_cast<long long>(plan->seq), tokens->size(), dataPath.c_str());
  Expected<TrainJob> job = TrainJob::create(
      plan.take(), tokens.take(), dataPath, options,
      [](const std::string &kernel) { return lookupKernel(Backend::Cpu, kernel); });
  if (!job)
    return job.status();
  if (!o.resume.empty())
    std::printf("ds-train: resuming from %s after step %lld of %lld\n", o.resume.c_str(),
                static_cast<long long>(job->completedSteps()), static_cast<long long>(o.steps));

  // On a terminal one line is rewritten in place; in a log, a line every --log-every steps.
  bool terminal = ::isatty(STDOUT_FILENO);
  int64_t firstStep = job->completedSteps() + 1, lastStep = o.stopAfter > 0 ? o.stopAfter : o.steps;
  auto show = [&](const StepMetrics &m) {
    bool last = m.step == lastStep;
    if (!terminal && m.step % o.logEvery != 0 && m.step != firstStep && !last)
      return;
    std::string norm;
    if (m.hasGradNorm) {
      char text[32];
      std::snprintf(text, sizeof text, "  grad_norm %.3f", m.gradNorm);
      norm = text;
    }
    std::printf("%sstep %lld/%lld  loss %.4f  lr %.3e%s  %.0f tok/s%s", terminal ? "\r" : "",
                static_cast<long long>(m.step), static_cast<long long>(o.steps), m.loss, m.lr,
                norm.c_str(), m.tokensPerSecond, terminal && !last ? "" : "\n");
    std::fflush(stdout);
  };
  auto saved = [&](const std::string &folder) {
    std::printf("%scheckpoint %s\n", terminal ? "\n" : "", folder.c_str());
    std::fflush(stdout);
  };
  Status status = job->run(show, saved);
  if (!status && terminal)
    std::printf("\n");
#ifdef DS_TRAIN_WITH_CUDA
  if (profile && options.device) {
    // Per kernel name, summed over the profiled steps: where a CUDA step spends its time.
    int64_t steps = 0;
    std::map<std::string, KernelTime> times = cudaKernelTimes(*options.device, steps);
    double total = 0.0;
    std::map<std::string, double> byClass;
    for (const auto &[name, time] : times) {
      total += time.milliseconds;
      byClass[kernelClass(name)] += time.milliseconds;
    }
    std::vector<std::pair<double, std::string>> order;
    for (const auto &[name, time] : times)
      order.emplace_back(-time.milliseconds, name);
    std::sort(order.begin(), order.end());
    std::printf("ds-train: CUDA kernel time over %lld step%s (%s; %.1f ms in all, %.1f ms "
                "per step)\n",
                static_cast<long long>(steps), steps == 1 ? "" : "s",
                steps == 1 ? "the first step, with its one-time costs"
                           : "the first step left out",
                total, steps > 0 ? total / double(steps) : 0.0);
    for (const auto &[negative, name] : order) {
      const KernelTime &time = times[name];
      std::printf("  %-22s %10.2f ms %5.1f%%  %lld launches\n", name.c_str(), time.milliseconds,
                  total > 0 ? 100.0 * time.milliseconds / total : 0.0,
                  static_cast<long long>(time.launches));
    }
    std::vector<std::pair<double, std::string>> classes;
    for (const auto &[name, ms] : byClass)
      classes.emplace_back(-ms, name);
    std::sort(classes.begin(), classes.end());
    std::printf("ds-train: by kernel class, per step\n");
    for (const auto &[negative, name] : classes)
      std::printf("  %-22s %10.2f ms %5.1f%%\n", name.c_str(),
                  steps > 0 ? -negative / double(steps) : 0.0,
                  total > 0 ? -100.0 * negative / total : 0.0);
  }
#endif
  if (status && job->stoppedByRequest()) {
    std::printf("ds-train: stopped by signal %d after step %lld; continue with --resume %s\n",
                static_cast<int>(stopSignal), static_cast<long long>(job->completedSteps()),
                options.checkpointDir.c_str());
    exitCode = 128 + static_cast<int>(stopSignal);
  }
  return status;
}

} // namespace

int main(int argc, char **argv) {
  Options options;
  Status status = parseArgs(argc, argv, options);
  if (!status) {
    std::fprintf(stderr, "ds-train: %s\n%s", status.message().c_str(), kUsage);
    return 2;
  }
  int exitCode = 0;
  status = options.eval       ? evaluate(options)
           : options.makeData ? makeData(options)
                              : train(options, exitCode);
  if (!status) {
    std::fprintf(stderr, "ds-train: error: %s\n", status.message().c_str());
    return 1;
  }
  return exitCode;
}
