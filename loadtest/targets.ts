// The throughput targets the load tests are held to on this 2-core machine, and OpenCBDC's
// figures on the same kind of machine, for scale.
export const TARGETS = { e2e_payments_per_s_min: 4_500, e2e_p99_ms_max: 100, central_http_attested_tx_per_s_min: 20_000 };
export const OPENCBDC = { two_phase_sustained_tx_per_s: 1_500, two_phase_best_tx_per_s: 2_200, two_phase_best_p99_ms: 1_400 };
