//===- ThreadPool.cpp - fork-join pool of the CPU microkernels ------------===//

#include "ThreadPool.h"

namespace bnb::rt::uk {

namespace {
/// Set on pool workers so that a nested parallelFor runs inline.
thread_local bool isPoolWorker = false;
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
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping)
        return;
      seen = generation;
    }
    runChunks();
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (--active == 0)
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
  {
    std::lock_guard<std::mutex> lock(mutex);
    jobBody = body;
    jobContext = context;
    jobChunks = numChunks;
    nextChunk.store(0, std::memory_order_relaxed);
    active = static_cast<int>(workers.size());
    ++generation;
  }
  wake.notify_all();
  runChunks();
  // Every worker checks in, even one that found no chunk left, so the job
  // fields are not overwritten while a late worker still reads them.
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&] { return active == 0; });
}

} // namespace bnb::rt::uk
