// The standard process_* metrics of Prometheus client libraries, read from /proc on Linux.
#pragma once

class MetricsRegistry;

namespace ProcessMetrics {

// Declares process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_virtual_memory_bytes, process_resident_memory_bytes and process_start_time_seconds
// where /proc has them (Linux); elsewhere nothing, so that the metrics are absent rather than a
// constant 0.
void declare(MetricsRegistry &registry);

// Refreshes their values (call before rendering); does nothing where they are not declared.
void update(MetricsRegistry &registry);

} // namespace ProcessMetrics
