#include "metrics_setup.h"

#include <spdlog/spdlog.h>

namespace baton::cli {

Result<std::unique_ptr<metrics::Exporter>> StartMetrics(const Common& common) {
  if (common.metrics.empty()) return std::unique_ptr<metrics::Exporter>();
  auto exporter = metrics::Exporter::Start(common.metrics);
  if (!exporter) return exporter.error();
  spdlog::info("metrics at http://{}/metrics", (*exporter)->address());
  return std::move(*exporter);
}

}  // namespace baton::cli
