// The standard process_* metrics of Prometheus client libraries, read from /proc on Linux.
#pragma once

class MetricsRegistry;

namespace ProcessMetrics {

// Declares process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds and
// process_start_time_seconds.
void declare(MetricsRegistry &registry);

// Refreshes their values (call before rendering). On platforms without /proc they stay 0.
void update(MetricsRegistry &registry);

} // namespace ProcessMetrics
