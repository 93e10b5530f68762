//===- ds-train.cpp - train a model from a plan or a spec on the CPU ------===//
//
//   ds-train PLAN.dsplan|SPEC.json [--data FILE] [--steps N] [--batch B] [--seq S]
//            [--lr LR] [--warmup N] [--min-lr-ratio R] [--seed N] [--metrics FILE]
//            [--log-every N]
//   ds-train --make-data INPUT.txt -o OUTPUT.u16|.u32
//
// The logic lives in runtime/train; this file parses flags and shows progress.
//
//===----------------------------------------------------------------------===//
#include "runtime/train/PlanSource.h"
#include "runtime/train/TokenData.h"
#include "runtime/train/TrainJob.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

using namespace ds::rt;

namespace {

const char *const kUsage =
    "usage: ds-train PLAN.dsplan|SPEC.json [options]\n"
    "       ds-train --make-data INPUT.txt -o OUTPUT.u16|OUTPUT.u32\n"
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
    "  --log-every N        progress line interval when stdout is not a terminal (default 10)\n";

struct Options {
  std::string input;
  std::string data;
  std::string output;
  bool makeData = false;
  int64_t steps = 200, batch = 0, seq = 0, warmup = 20, logEvery = 10;
  double lr = 3e-3, minLrRatio = 0.1;
  uint64_t seed = 0;
  std::string metrics;
};

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
    } else if (arg == "-o") {
      DS_RETURN_IF_ERROR(value(o.output));
    } else if (arg == "--data") {
      DS_RETURN_IF_ERROR(value(o.data));
    } else if (arg == "--metrics") {
      DS_RETURN_IF_ERROR(value(o.metrics));
    } else if (int64_t *field = arg == "--steps"       ? &o.steps
                                : arg == "--batch"     ? &o.batch
                                : arg == "--seq"       ? &o.seq
                                : arg == "--warmup"    ? &o.warmup
                                : arg == "--log-every" ? &o.logEvery
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
  if (o.input.empty())
    return Status::error("missing PLAN.dsplan or SPEC.json");
  if (o.makeData && o.output.empty())
    return Status::error("--make-data needs -o OUTPUT.u16 or OUTPUT.u32");
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

Status train(const Options &o) {
  Expected<std::string> toolDir = executableDir();
  if (!toolDir)
    return toolDir.status();
  PlanRequest request;
  request.path = o.input;
  request.batch = o.batch;
  request.seq = o.seq;
  request.toolDir = *toolDir;
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
  std::printf("ds-train: %s (%s), batch %lld, seq %lld, %zu tokens from %s\n", o.input.c_str(),
              plan->modelType.c_str(), static_cast<long long>(plan->batch),
              static_cast<long long>(plan->seq), tokens->size(), dataPath.c_str());
  Expected<TrainJob> job = TrainJob::create(
      plan.take(), tokens.take(), dataPath, options,
      [](const std::string &kernel) { return lookupKernel(Backend::Cpu, kernel); });
  if (!job)
    return job.status();

  // On a terminal one line is rewritten in place; in a log, a line every --log-every steps.
  bool terminal = ::isatty(STDOUT_FILENO);
  auto show = [&](const StepMetrics &m) {
    bool last = m.step == o.steps;
    if (!terminal && m.step % o.logEvery != 0 && m.step != 1 && !last)
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
  Status status = job->run(show);
  if (!status && terminal)
    std::printf("\n");
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
  status = options.makeData ? makeData(options) : train(options);
  if (!status) {
    std::fprintf(stderr, "ds-train: error: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
