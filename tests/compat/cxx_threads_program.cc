// A C++ NCCL program, built only against the compat nccl.h / cuda_runtime.h: the C++ allocation
// overloads, device properties and error names, and one thread per device with its own stream and
// communicator, host copies interleaved with queued collectives (the case that hung when a
// synchronous copy waited for every stream of the process), run for many rounds. Each round checks
// all-reduce, all-to-all, gather and scatter against a serial computation, the input an ncclMemAlloc
// buffer registered as a window (peers read it directly). Prints one line per failure and "R/R rounds passed"; exit
// status 0 only if all passed.
#include <cuda_runtime.h>
#include <nccl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<int> failures{0};

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                             \
      std::fprintf(stderr, __VA_ARGS__);                                                                               \
      std::fprintf(stderr, "\n");                                                                                      \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

constexpr size_t kCount = 1 << 14; // floats per rank and block

struct Round {
  int nthreads;
  ncclUniqueId id;
  pthread_barrier_t barrier;
};

// The value rank r puts at element i of block b (block b goes to rank b in all-to-all / scatter).
float value(int r, int b, size_t i) { return static_cast<float>(r * 1000 + b * 10 + static_cast<int>(i % 7)); }

void rank_main(Round *round, int rank) {
  const int n = round->nthreads;
  CHECK(cudaSetDevice(rank) == cudaSuccess, "cudaSetDevice(%d)", rank);
  if (rank == 0) CHECK(ncclGetUniqueId(&round->id) == ncclSuccess, "%s", ncclGetLastError(nullptr));
  pthread_barrier_wait(&round->barrier); // the id reaches every thread
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.CTAPolicy = NCCL_CTA_POLICY_EFFICIENCY; // a 2.27+ field: accepted, no effect on host memory
  ncclComm_t comm = nullptr;
  ncclResult_t rc = ncclCommInitRankConfig(&comm, n, round->id, rank, &config);
  CHECK(rc == ncclSuccess, "init rank %d: %s", rank, ncclGetLastError(nullptr));
  if (rc != ncclSuccess) return;
  int dev = -1;
  CHECK(ncclCommCuDevice(comm, &dev) == ncclSuccess && dev == rank, "rank %d on device %d", rank, dev);

  const size_t total = kCount * static_cast<size_t>(n);
  float *host = nullptr, *send = nullptr, *recv = nullptr, *a2a = nullptr, *gath = nullptr, *scat = nullptr;
  CHECK(cudaMallocHost(&host, total * sizeof(float)) == cudaSuccess, "cudaMallocHost");
  // The input lives in ncclMemAlloc memory inside a window: same-host peers read it directly.
  void *mem = nullptr;
  CHECK(ncclMemAlloc(&mem, total * sizeof(float)) == ncclSuccess, "%s", ncclGetLastError(comm));
  send = static_cast<float *>(mem);
  CHECK(cudaMalloc(&recv, total * sizeof(float)) == cudaSuccess, "cudaMalloc"); // C++ overload: float **
  CHECK(cudaMalloc(&a2a, total * sizeof(float)) == cudaSuccess, "cudaMalloc");
  CHECK(cudaMalloc(&gath, total * sizeof(float)) == cudaSuccess, "cudaMalloc");
  CHECK(cudaHostAlloc(&scat, kCount * sizeof(float), cudaHostAllocDefault) == cudaSuccess, "cudaHostAlloc");
  ncclWindow_t win = nullptr;
  CHECK(ncclCommWindowRegister(comm, send, total * sizeof(float), &win, NCCL_WIN_COLL_SYMMETRIC) == ncclSuccess, "%s",
        ncclGetLastError(comm));
  void *user = nullptr;
  CHECK(ncclWinGetUserPtr(comm, win, &user) == ncclSuccess && user == send, "window pointer %p, want %p", user,
        static_cast<void *>(send));

  for (int b = 0; b < n; b++)
    for (size_t i = 0; i < kCount; i++) host[static_cast<size_t>(b) * kCount + i] = value(rank, b, i);
  // Later ranks copy their input while rank 0 already waits on its queued collective.
  usleep(static_cast<useconds_t>(rank) * 3000);
  CHECK(cudaMemcpy(send, host, total * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess, "cudaMemcpy");
  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream) == cudaSuccess, "cudaStreamCreate");
  CHECK(ncclAllReduce(send, recv, total, ncclFloat, ncclSum, comm, stream) == ncclSuccess, "%s",
        ncclGetLastError(comm));
  CHECK(ncclAlltoAll(send, a2a, kCount, ncclFloat, comm, stream) == ncclSuccess, "%s", ncclGetLastError(comm));
  CHECK(ncclGather(send, gath, kCount, ncclFloat, 0, comm, stream) == ncclSuccess, "%s", ncclGetLastError(comm));
  CHECK(ncclScatter(send, scat, kCount, ncclFloat, n - 1, comm, stream) == ncclSuccess, "%s", ncclGetLastError(comm));
  // Refused before anything is queued, naming the call: a root outside the communicator, a datatype
  // nccl.h does not name.
  CHECK(ncclGather(send, gath, kCount, ncclFloat, n, comm, stream) == ncclInvalidUsage &&
            std::strstr(ncclGetLastError(comm), "ncclGather: root") != nullptr,
        "gather to root %d: %s", n, ncclGetLastError(comm));
  CHECK(ncclScatter(send, scat, kCount, ncclFloat, -1, comm, stream) == ncclInvalidUsage &&
            std::strstr(ncclGetLastError(comm), "ncclScatter: root") != nullptr,
        "scatter from root -1: %s", ncclGetLastError(comm));
  CHECK(ncclAlltoAll(send, a2a, kCount, static_cast<ncclDataType_t>(99), comm, stream) == ncclInvalidUsage &&
            std::strstr(ncclGetLastError(comm), "ncclAlltoAll: datatype") != nullptr,
        "all-to-all of datatype 99: %s", ncclGetLastError(comm));
  // Queued behind the collectives: the host copy of the all-reduce result.
  CHECK(cudaMemcpyAsync(host, recv, total * sizeof(float), cudaMemcpyDeviceToHost, stream) == cudaSuccess,
        "cudaMemcpyAsync");
  CHECK(cudaStreamSynchronize(stream) == cudaSuccess, "rank %d: %s", rank, ncclGetLastError(comm));

  int bad = 0;
  for (int b = 0; b < n && !bad; b++)
    for (size_t i = 0; i < kCount && !bad; i++) {
      const size_t at = static_cast<size_t>(b) * kCount + i;
      float sum = 0;
      for (int r = 0; r < n; r++) sum += value(r, b, i);
      if (host[at] != sum)
        bad = 1, std::fprintf(stderr, "rank %d all-reduce [%zu] = %g, want %g\n", rank, at, host[at], sum);
      if (a2a[at] != value(b, rank, i)) bad = 1, std::fprintf(stderr, "rank %d all-to-all [%zu] wrong\n", rank, at);
      if (rank == 0 && gath[at] != value(b, 0, i)) bad = 1, std::fprintf(stderr, "gather [%zu] wrong\n", at);
      if (b == 0 && scat[i] != value(n - 1, rank, i))
        bad = 1, std::fprintf(stderr, "rank %d scatter [%zu] wrong\n", rank, i);
    }
  CHECK(!bad, "rank %d: wrong results", rank);

  CHECK(ncclCommWindowDeregister(comm, win) == ncclSuccess, "%s", ncclGetLastError(comm));
  CHECK(cudaStreamDestroy(stream) == cudaSuccess, "cudaStreamDestroy");
  CHECK(ncclCommFinalize(comm) == ncclSuccess, "%s", ncclGetLastError(comm));
  CHECK(ncclCommDestroy(comm) == ncclSuccess, "%s", ncclGetLastError(nullptr));
  CHECK(ncclMemFree(send) == ncclSuccess, "ncclMemFree");
  cudaFree(recv), cudaFree(a2a), cudaFree(gath), cudaFreeHost(host), cudaFreeHost(scat);
}

void check_runtime_surface() {
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0) == cudaSuccess, "cudaGetDeviceProperties");
  CHECK(std::string(prop.name) == "nsccl virtual device 0 (host memory)", "name '%s'", prop.name);
  const size_t mem = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  CHECK(prop.totalGlobalMem == mem, "totalGlobalMem %zu, want the host's %zu", prop.totalGlobalMem, mem);
  CHECK(prop.major == 0 && prop.minor == 0, "compute capability %d.%d", prop.major, prop.minor);
  int count = 0;
  cudaGetDeviceCount(&count);
  CHECK(cudaGetDeviceProperties(&prop, count) == cudaErrorInvalidDevice, "a device past the count");
  CHECK(std::string(cudaGetErrorName(cudaErrorInvalidValue)) == "cudaErrorInvalidValue", "cudaGetErrorName");
  CHECK(std::string(cudaGetErrorName(cudaSuccess)) == "cudaSuccess", "cudaGetErrorName");
  double *d = nullptr;
  CHECK(cudaMallocManaged(&d, 8 * sizeof(double)) == cudaSuccess && d, "cudaMallocManaged");
  CHECK(cudaMemset(d, 0, 8 * sizeof(double)) == cudaSuccess && d[7] == 0.0, "cudaMemset");
  cudaFree(d);
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess, "cudaEventCreate");
  cudaEventRecord(start, nullptr);
  usleep(20000);
  cudaEventRecord(stop, nullptr);
  float ms = -1;
  CHECK(cudaEventElapsedTime(&ms, start, stop) == cudaSuccess && ms >= 19.0f && ms < 5000.0f, "elapsed %g ms", ms);
  cudaEventDestroy(start), cudaEventDestroy(stop);
}

// Calls that cannot run on host memory compile and fail clearly, naming themselves; PreMulSum runs.
void check_unsupported_calls() {
  ncclUniqueId id;
  ncclComm_t comm = nullptr;
  CHECK(ncclGetUniqueId(&id) == ncclSuccess && ncclCommInitRank(&comm, 1, id, 0) == ncclSuccess, "single rank");
  float x = 0;
  CHECK(ncclPutSignal(&x, 1, ncclFloat, 0, nullptr, 0, 0, 0, 0, comm, nullptr) == ncclInvalidUsage, "ncclPutSignal");
  CHECK(std::strstr(ncclGetLastError(comm), "ncclPutSignal") != nullptr, "message '%s'", ncclGetLastError(comm));
  ncclComm_t shrunk = comm;
  int exclude = 0;
  CHECK(ncclCommShrink(comm, &exclude, 1, &shrunk, nullptr, NCCL_SHRINK_DEFAULT) == ncclInvalidUsage && !shrunk,
        "ncclCommShrink");
  ncclParamHandle_t h;
  CHECK(ncclParamBind(&h, "NCCL_DEBUG") == ncclInvalidUsage, "ncclParamBind");
  // PreMulSum is supported: on one rank the all-reduce is scalar * x (3 * 2.5 = 7.5, exact).
  ncclRedOp_t op;
  float scalar = 3, in = 2.5f, out = 0;
  CHECK(ncclRedOpCreatePreMulSum(&op, &scalar, ncclFloat, ncclScalarHostImmediate, comm) == ncclSuccess,
        "ncclRedOpCreatePreMulSum: %s", ncclGetLastError(comm));
  CHECK(ncclAllReduce(&in, &out, 1, ncclFloat, op, comm, nullptr) == ncclSuccess && out == 7.5f,
        "PreMulSum all-reduce: %g, want 7.5", out);
  CHECK(ncclRedOpDestroy(op, comm) == ncclSuccess, "ncclRedOpDestroy");
  CHECK(ncclAllReduce(&in, &out, 1, ncclFloat, op, comm, nullptr) == ncclInvalidArgument,
        "a destroyed operator must be refused");
  uint64_t bytes = 1;
  CHECK(ncclCommMemStats(comm, ncclStatGpuMemTotal, &bytes) == ncclSuccess && bytes == 0, "ncclCommMemStats");
  CHECK(ncclCommSuspend(comm, NCCL_SUSPEND_MEM) == ncclSuccess && ncclCommResume(comm) == ncclSuccess, "suspend");
  // ncclGroupSimulateEnd closes the group without running it: x stays 0, no group is left open.
  float one = 1;
  ncclSimInfo_t sim = NCCL_SIM_INFO_INITIALIZER;
  ncclGroupStart();
  ncclAllReduce(&one, &x, 1, ncclFloat, ncclSum, comm, nullptr);
  CHECK(ncclGroupSimulateEnd(&sim) == ncclInvalidUsage && x == 0.0f, "simulate ran the group (x = %g)", x);
  CHECK(ncclGroupEnd() == ncclInvalidUsage, "a group was left open");
  ncclComm_t scal = nullptr;
  CHECK(ncclGetUniqueId(&id) == ncclSuccess && ncclCommInitRankScalable(&scal, 1, 0, 1, &id, nullptr) == ncclSuccess,
        "ncclCommInitRankScalable: %s", ncclGetLastError(nullptr));
  if (scal) ncclCommDestroy(scal);
  ncclCommDestroy(comm);
}

} // namespace

int main(int argc, char **argv) {
  int rounds = 20, threads = 3;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::printf("usage: %s [--rounds N (20)] [--threads T (3)]\n"
                  "One thread per virtual device (NSCCL_VIRTUAL_DEVICES >= T), each with its own stream and\n"
                  "communicator, for N rounds; plus the C++ CUDA-runtime surface and NCCL's unsupported calls.\n",
                  argv[0]);
      return !std::strcmp(argv[i], "--help") ? 0 : 2;
    }
  }
  alarm(240); // a hang fails with SIGALRM instead of waiting for the harness
  check_runtime_surface();
  check_unsupported_calls();
  int passed = 0;
  for (int r = 0; r < rounds; r++) {
    int before = failures;
    Round round{};
    round.nthreads = threads;
    pthread_barrier_init(&round.barrier, nullptr, static_cast<unsigned>(threads));
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) ts.emplace_back(rank_main, &round, t);
    for (auto &t : ts) t.join();
    pthread_barrier_destroy(&round.barrier);
    if (failures == before) passed++;
  }
  std::printf("cxx_threads_program: %d/%d rounds passed with %d threads; %d failed checks\n", passed, rounds, threads,
              failures.load());
  return passed == rounds && failures == 0 ? 0 : 1;
}
