//===- ThreadPool.cpp - fork-join pool of the CPU microkernels ------------===//

#include "ThreadPool.h"

namespace bnb::rt::uk {

namespace {
/// Set on pool workers so that a nested parallelFor runs inline.
thread_local bool isPoolWorker = false;

/// Spins on `ready` for up to about 100 microseconds; true if it held.
template <typename Ready> bool spinUntil(Ready ready) {
  for (int i = 0; i < 2048; ++i) {
    if (ready())
      return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  return ready();
}
} // namespace

ThreadPool::ThreadPool(int numThreads) {
  for (int i = 1; i < numThreads; ++i)
    workers.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  for (std::thread &t : workers)
    t.join();
}

void ThreadPool::runChunks() {
  for (;;) {
    int64_t i = nextChunk.fetch_add(1, std::memory_order_relaxed);
    if (i >= jobChunks)
      return;
    jobBody(jobContext, i);
  }
}

void ThreadPool::workerLoop() {
  isPoolWorker = true;
  uint64_t seen = 0;
  for (;;) {
    auto fresh = [&] {
      return generation.load(std::memory_order_acquire) != seen;
    };
    if (!spinUntil(fresh)) {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || fresh(); });
      if (stopping)
        return;
    }
    seen = generation.load(std::memory_order_acquire);
    runChunks();
    if (active.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Under the mutex: the caller may be between its check and its wait.
      std::lock_guard<std::mutex> lock(mutex);
      done.notify_one();
    }
  }
}

void ThreadPool::parallelFor(int64_t numChunks, Body body, void *context) {
  auto runInline = [&] {
    for (int64_t i = 0; i < numChunks; ++i)
      body(context, i);
  };
  if (workers.empty() || numChunks <= 1 || isPoolWorker) {
    runInline();
    return;
  }
  std::unique_lock<std::mutex> call(callMutex, std::try_to_lock);
  if (!call.owns_lock()) {
    runInline();
    return;
  }
  jobBody = body;
  jobContext = context;
  jobChunks = numChunks;
  nextChunk.store(0, std::memory_order_relaxed);
  active.store(static_cast<int>(workers.size()), std::memory_order_relaxed);
  {
    // The release increment publishes the job to spinning workers; the
    // mutex orders it with sleeping ones.
    std::lock_guard<std::mutex> lock(mutex);
    generation.fetch_add(1, std::memory_order_release);
  }
  wake.notify_all();
  runChunks();
  // Every worker checks in, even one that found no chunk left, so the job
  // fields are not overwritten while a late worker still reads them.
  auto finished = [&] { return active.load(std::memory_order_acquire) == 0; };
  if (spinUntil(finished))
    return;
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, finished);
}

} // namespace bnb::rt::uk
