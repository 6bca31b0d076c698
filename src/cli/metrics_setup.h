#pragma once

#include <memory>

#include "baton/events.h"
#include "baton/result.h"
#include "common.h"
#include "metrics/exporter.h"

namespace baton::cli {

// The metrics exporter of a `run`, `work`, `schedule` or `serve` process: the one --metrics
// asks for, serving already, or an empty pointer without --metrics. Started before the store
// is opened, so a port in use ends the process at once (exit 1) rather than after it joined
// its group. Errors as metrics::Exporter::Start.
Result<std::unique_ptr<metrics::Exporter>> StartMetrics(const Common& common);

// The sink of `exporter`, or none.
inline EventSink* SinkOf(const std::unique_ptr<metrics::Exporter>& exporter) {
  return exporter ? &exporter->events() : nullptr;
}

}  // namespace baton::cli
