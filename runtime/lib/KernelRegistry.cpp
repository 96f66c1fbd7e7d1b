//===- KernelRegistry.cpp - kernel names, lookups and timings -------------===//

#include "KernelRegistry.h"
#include "Driver.h"
#include "ErrorState.h"

#include <cstring>

namespace bnb::rt {

KernelRegistry &KernelRegistry::get() {
  // Never destroyed: model destructors may still unload modules at exit.
  static KernelRegistry *registry = new KernelRegistry;
  return *registry;
}

KernelRecord *KernelRegistry::recordFor(const std::string &name) {
  auto it = byName_.find(name);
  if (it != byName_.end())
    return it->second;
  records_.push_back(KernelRecord{name});
  KernelRecord *record = &records_.back();
  byName_.emplace(name, record);
  return record;
}

bnbrt_cu_function KernelRegistry::lookup(bnbrt_cu_module module,
                                         const char *name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = lookups_.find(Key{module, name});
  // The key holds the address of the name; compare the text too in case a
  // different string now lives there.
  if (it == lookups_.end() || it->second.name != name)
    return nullptr;
  return it->second.function;
}

void KernelRegistry::remember(bnbrt_cu_module module, const char *name,
                              bnbrt_cu_function function) {
  std::lock_guard<std::mutex> lock(mutex_);
  lookups_[Key{module, name}] = Cached{function, name};
  byFunction_[function] = recordFor(name);
}

void KernelRegistry::forgetModule(bnbrt_cu_module module) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = lookups_.begin(); it != lookups_.end();) {
    if (it->first.module == module) {
      byFunction_.erase(it->second.function);
      smemRaised_.erase(it->second.function);
      it = lookups_.erase(it);
    } else {
      ++it;
    }
  }
}

KernelRecord *KernelRegistry::recordOf(bnbrt_cu_function function) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = byFunction_.find(function);
  return it == byFunction_.end() ? nullptr : it->second;
}

bool KernelRegistry::sharedMemoryRaised(bnbrt_cu_function function,
                                        int smem) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = smemRaised_.find(function);
  return it != smemRaised_.end() && it->second >= smem;
}

void KernelRegistry::setSharedMemoryRaised(bnbrt_cu_function function,
                                           int smem) {
  std::lock_guard<std::mutex> lock(mutex_);
  smemRaised_[function] = smem;
}

std::string KernelRegistry::lastLaunchedNote() {
  KernelRecord *record = lastLaunched_.load();
  if (!record)
    return "";
  std::lock_guard<std::mutex> lock(mutex_);
  return " (last kernel launched: " + record->name + ")";
}

bnbrt_cu_event KernelRegistry::takeEvent(const bnbrt_driver_table &cu) {
  if (!freeEvents_.empty()) {
    bnbrt_cu_event event = freeEvents_.back();
    freeEvents_.pop_back();
    return event;
  }
  bnbrt_cu_event event = nullptr;
  // Timing events: the default flags keep timing enabled.
  if (bnbrt_cu_result r = cu.cuEventCreate(&event, BNBRT_CU_EVENT_DEFAULT)) {
    recordError(Driver::get().failure("cuEventCreate (kernel timing)", r));
    return nullptr;
  }
  return event;
}

bool KernelRegistry::beginTimed(const bnbrt_driver_table &cu,
                                KernelRecord *record, bnbrt_cu_stream stream,
                                TimedLaunch *launch) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pending_.size() >= kMaxPending)
    collectLocked(cu);
  launch->record = record;
  launch->start = takeEvent(cu);
  launch->end = takeEvent(cu);
  if (!launch->start || !launch->end)
    return false;
  if (bnbrt_cu_result r = cu.cuEventRecord(launch->start, stream)) {
    recordError(Driver::get().failure("cuEventRecord (kernel timing)", r));
    freeEvents_.push_back(launch->start);
    freeEvents_.push_back(launch->end);
    return false;
  }
  return true;
}

void KernelRegistry::endTimed(const bnbrt_driver_table &cu,
                              bnbrt_cu_stream stream, TimedLaunch &launch,
                              bool launched) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (launched) {
    if (bnbrt_cu_result r = cu.cuEventRecord(launch.end, stream)) {
      recordError(Driver::get().failure("cuEventRecord (kernel timing)", r));
      launched = false;
    }
  }
  if (!launched) {
    freeEvents_.push_back(launch.start);
    freeEvents_.push_back(launch.end);
    return;
  }
  if (launch.record) {
    launch.record->launches += 1;
    if (!launch.record->listed) {
      launch.record->listed = true;
      launchOrder_.push_back(launch.record);
    }
  }
  pending_.push_back(launch);
}

void KernelRegistry::collectLocked(const bnbrt_driver_table &cu) {
  for (TimedLaunch &launch : pending_) {
    float ms = 0;
    const char *call = "cuEventSynchronize";
    bnbrt_cu_result r = cu.cuEventSynchronize(launch.end);
    if (r == 0) {
      call = "cuEventElapsedTime";
      r = cu.cuEventElapsedTime(&ms, launch.start, launch.end);
    }
    if (r != 0) {
      // Asynchronous kernel faults surface here; name the kernel.
      std::string kernel = launch.record ? launch.record->name : "a kernel";
      recordError(Driver::get().failure(
          format("%s (timing of %s)", call, kernel.c_str()), r));
    } else if (launch.record) {
      launch.record->totalMs += ms;
    }
    freeEvents_.push_back(launch.start);
    freeEvents_.push_back(launch.end);
  }
  pending_.clear();
}

void KernelRegistry::collect(const bnbrt_driver_table *cu) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cu)
    collectLocked(*cu);
}

std::vector<KernelRecord *> KernelRegistry::launched() {
  std::lock_guard<std::mutex> lock(mutex_);
  return launchOrder_;
}

void KernelRegistry::resetStats() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (KernelRecord &record : records_) {
    record.launches = 0;
    record.totalMs = 0;
    record.listed = false;
  }
  launchOrder_.clear();
  // Launches still in flight belong to the old statistics; keep their events
  // but drop the attribution.
  for (TimedLaunch &launch : pending_)
    launch.record = nullptr;
}

void KernelRegistry::reset(const bnbrt_driver_table *cu) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cu) {
    for (TimedLaunch &launch : pending_) {
      cu->cuEventDestroy_v2(launch.start);
      cu->cuEventDestroy_v2(launch.end);
    }
    for (bnbrt_cu_event event : freeEvents_)
      cu->cuEventDestroy_v2(event);
  }
  pending_.clear();
  freeEvents_.clear();
  lookups_.clear();
  byFunction_.clear();
  smemRaised_.clear();
  byName_.clear();
  launchOrder_.clear();
  records_.clear();
  lastLaunched_.store(nullptr);
}

} // namespace bnb::rt
