// The throughput targets the load tests are held to, stated against this machine: the two-tier
// path as a share of the floor of a payment measured in the same run (loadtest/floor.ts), and
// against OpenCBDC's figures on the same kind of machine; central over HTTP as a rate.
export const TARGETS = {
  /** Full mode: payments/s over the floor of a full-mode payment (2 signed, 3 checked, 1 request). */
  e2e_to_floor_min: 0.5,
  /** Attested mode: payments/s over the attested floor (2 signed, 1 checked, 1 request). */
  e2e_attested_to_floor_min: 0.5,
  /** Both e2e modes over OpenCBDC's two-phase-commit best. */
  e2e_to_opencbdc_best_min: 1,
  /** The paced run: its rate as a share of the rate the same run reached, and its p99 then. */
  e2e_paced_share: 0.8,
  e2e_paced_p99_ms_max: 100,
  central_http_attested_tx_per_s_min: 20_000,
} as const;

// OpenCBDC (opencbdc-tx) built and run on this same kind of 2-core machine: its two-phase-commit
// architecture's sustained rate and best rate (with its p99 there), 2-in/2-out transactions.
export const OPENCBDC = { two_phase_sustained_tx_per_s: 1_500, two_phase_best_tx_per_s: 2_250, two_phase_best_p99_ms: 1_400 };
