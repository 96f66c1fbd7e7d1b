//===- ThreadPool.h - fork-join pool of the CPU microkernels ----*- C++ -*-===//
//
// A persistent fork-join pool: parallelFor runs a body over chunk indices on
// the calling thread and the pool's workers, which sleep on a condition
// variable between calls. The runtime must not depend on LLVM (it is plain
// C++17 + libdl + pthreads), so llvm::ThreadPool is not available here.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_THREADPOOL_H
#define BNB_RUNTIME_LIB_UKERNELS_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace bnb::rt::uk {

/// A fork-join pool of `numThreads - 1` workers plus the calling thread.
class ThreadPool {
public:
  /// The body of a parallel loop: called once per chunk index.
  using Body = void (*)(void *context, int64_t chunk);

  /// Starts `numThreads - 1` workers (none when `numThreads` <= 1).
  explicit ThreadPool(int numThreads);

  /// Wakes and joins the workers.
  ~ThreadPool();

  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// Threads taking part in a parallelFor, the caller included.
  int numThreads() const { return static_cast<int>(workers.size()) + 1; }

  /// Calls body(context, i) for every i in [0, numChunks) and returns when
  /// all calls are done. Chunks are claimed dynamically, so the body must not
  /// depend on which thread runs a chunk. A call made while another is in
  /// progress (from a worker or another thread) runs inline.
  void parallelFor(int64_t numChunks, Body body, void *context);

private:
  void workerLoop();
  void runChunks();

  std::vector<std::thread> workers;
  /// Serializes parallelFor calls; a caller that cannot take it runs inline.
  std::mutex callMutex;
  /// Guards sleeping and waking on the condition variables below; the job
  /// fields are published by the release increment of `generation`.
  std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable done;
  /// Bumped once per job. Workers spin on it briefly before sleeping: a
  /// decode step calls the kernels a few hundred times per token, and a
  /// condition-variable wake-up each time costs more than many small GEMVs.
  std::atomic<uint64_t> generation{0};
  bool stopping = false;
  /// Workers that have not yet finished the current job.
  std::atomic<int> active{0};
  Body jobBody = nullptr;
  void *jobContext = nullptr;
  int64_t jobChunks = 0;
  std::atomic<int64_t> nextChunk{0};
};

} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_THREADPOOL_H
