#include "chameleon/measure/worker.hpp"

#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/cuda_runner.hpp"
#include "chameleon/util/interrupt.hpp"
#include "chameleon/util/worker_process.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace chameleon::measure {

namespace {

constexpr int kParentFd = 3;

int run_compile_worker(int fd) {
  while (auto request = util::read_message(fd)) {
    const auto& h = request->header;
    CompiledKernel k = compile_kernel(request->blob, h.value("entry", std::string("kernel")),
                                      h.value("arch", std::string()));
    nlohmann::json reply = {{"ok", k.ok},
                            {"log", k.log},
                            {"resources", target::to_json(k.resources)},
                            {"seconds", k.seconds}};
    if (!util::write_message(fd, {reply, std::move(k.cubin)})) break;
  }
  return 0;
}

} // namespace

std::optional<int> run_worker_if_requested(int argc, char** argv) {
  if (argc < 3 || std::strcmp(argv[1], util::kWorkerFlag) != 0) return std::nullopt;
  // Die with the parent: a tuner killed with -9 must not leave workers holding the GPU.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return 1;
  // Ctrl-C reaches the whole process group: the parent decides (a tune finishes the batch in
  // flight, util/interrupt.hpp), and a worker dying under it would log its config as failed.
  // The parent ends its workers itself (SIGKILL), or they die with it. They start with both
  // signals blocked (util/worker_process.cpp): ignored first, then unblocked, none gets through.
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  const sigset_t blocked = util::interrupt_signals();
  ::sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
  auto logger = spdlog::stderr_color_mt("chameleon-worker");
  logger->set_pattern("%^[%l]%$ worker: %v");
  spdlog::set_default_logger(logger);
  std::string role = argv[2];
  if (role == "compile") return run_compile_worker(kParentFd);
  if (role == "cuda") return run_gpu_worker(kParentFd);
  std::fprintf(stderr, "chameleon: unknown worker role '%s'\n", role.c_str());
  return 2;
}

} // namespace chameleon::measure
